// md.nn bindings (filled in with the layer library).
#include "bind.h"

namespace md::python {
void bind_nn(py::module_&) {}
}  // namespace md::python

// md.optim bindings (filled in with the optimisers).
#include "bind.h"

namespace md::python {
void bind_optim(py::module_&) {}
}  // namespace md::python

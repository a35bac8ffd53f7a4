// md.optim bindings: the fused Adam core (the Python class md.optim.Adam holds the mutable
// hyperparameters), gradient clipping and the EMA core.
#include "optim/optim.h"
#include "bind.h"

namespace md::python {

void bind_optim(py::module_& m) {
  py::module_ o = m.def_submodule("optim", "optimisers (cores; see minidiff.optim for the user classes)");
  using RG = py::call_guard<py::gil_scoped_release>;

  py::class_<optim::Adam>(o, "AdamCore")
      .def(py::init<std::vector<Tensor>>(), py::arg("params"))
      .def("step", &optim::Adam::step, py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
           py::arg("weight_decay"), py::arg("decoupled"), RG())
      .def("zero_grad", &optim::Adam::zero_grad, py::arg("set_to_none") = true, RG())
      .def("step_count", &optim::Adam::step_count, py::arg("index"))
      .def("set_step_count", &optim::Adam::set_step_count, py::arg("index"), py::arg("steps"))
      .def("exp_avg", &optim::Adam::exp_avg, py::arg("index"))
      .def("exp_avg_sq", &optim::Adam::exp_avg_sq, py::arg("index"))
      .def_property_readonly("params", [](const optim::Adam& a) { return a.arena().params(); })
      .def_property_readonly("num_params", [](const optim::Adam& a) { return a.arena().params().size(); });

  o.def(
      "clip_grad_norm_",
      [](const py::object& params, double max_norm) {
        std::vector<Tensor> ps;
        if (py::isinstance<Tensor>(params))
          ps.push_back(params.cast<Tensor>());
        else
          for (auto p : params) ps.push_back(p.cast<Tensor>());
        py::gil_scoped_release release;
        return optim::clip_grad_norm(ps, max_norm);
      },
      py::arg("parameters"), py::arg("max_norm"),
      "Scales gradients in place so their global L2 norm is at most max_norm; returns the norm before clipping");

  py::class_<optim::EMA>(o, "EMACore")
      .def(py::init<std::vector<Tensor>>(), py::arg("params"))
      .def("update", &optim::EMA::update, py::arg("params"), py::arg("decay"), RG())
      .def("copy_to", &optim::EMA::copy_to, py::arg("params"), RG())
      .def("store", &optim::EMA::store, py::arg("params"), RG())
      .def("restore", &optim::EMA::restore, py::arg("params"), RG())
      .def("__len__", &optim::EMA::size)
      .def("shadow", &optim::EMA::shadow, py::arg("index"));
}

}  // namespace md::python

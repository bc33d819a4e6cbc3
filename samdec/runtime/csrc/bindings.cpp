// The Python module (samdec.runtime.native.kernel()): every function, class and constant of
// the kernels that Python uses, bound in one place. The constants are the kernels' own, so
// that Python reads the units the kernels were compiled with instead of keeping copies.
//
// The calls that compute release the GIL: the app serves several runs on one model, and a
// step's work is all in C++. The classes are module-local, so that two builds of these sources
// can be loaded in one process (scripts/kernel_ab.py times one against the other).
#include "kernels.h"

#include <torch/csrc/utils/pybind.h>  // pybind11 and its casters of at::Tensor

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace samdec;

  // Units: the streamed kernel's packing (COLUMN weight rows a column, LANES columns a piece),
  // a quantisation block's columns, a long prompt's rows a pass; the row counts whose chunking
  // is tuned, as a tuple; attention's widest head (heads in pieces of LANES floats).
  m.attr("LANES") = LANES;
  m.attr("COLUMN") = COLUMN;
  m.attr("BLOCK") = BLOCK;
  m.attr("ROW_BLOCK") = ROW_BLOCK;
  m.attr("TUNED_ROWS") = py::tuple(py::cast(tuned_rows()));
  m.attr("MAX_HEAD_WIDTH") = MAX_HEAD_WIDTH;

  // streamed.cpp
  m.def("pack", &pack);
  m.def("set_chunked_rows", &set_chunked_rows);
  m.def("chunked_rows", &get_chunked_rows);

  // integer.cpp: whether it was built (AVX-512 VNNI), and the kernel itself for tests.
  m.attr("INTEGER") = integer_available();
  m.def("rows_times_integer_codes", &rows_times_integer_codes,
        py::call_guard<py::gil_scoped_release>());
  m.def("integer_gated_mlp", &integer_gated_mlp, py::call_guard<py::gil_scoped_release>());

  // layers.cpp
  py::class_<Linear>(m, "Linear", py::module_local())
      .def(py::init<std::vector<at::Tensor>, int64_t, int64_t, bool>(), py::arg("weights"),
           py::arg("bits"), py::arg("out"), py::arg("integer") = false)
      .def("__call__", &Linear::operator(), py::call_guard<py::gil_scoped_release>());
  py::class_<Layers>(m, "Layers", py::module_local())
      .def(py::init([](std::vector<int64_t> sizes, int64_t head_dim, int64_t mlp_width,
                       double scaling, bool grouped_heads, bool row_attention) {
        Layers l;
        l.sizes = sizes, l.head_dim = head_dim, l.mlp_width = mlp_width;
        l.scaling = scaling, l.grouped_heads = grouped_heads, l.row_attention = row_attention;
        return l;
      }))
      .def("add", &Layers::add)
      .def("run", &Layers::run, py::call_guard<py::gil_scoped_release>());

  // attention.cpp
  m.def(
      "attend",
      [](const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
         const std::optional<at::Tensor>& mask, bool causal, double scale) {
        return attend(query, key, value, mask, causal, scale);
      },
      py::call_guard<py::gil_scoped_release>());
}

// The spikekit._C extension: an (almost) empty Python module whose import registers the
// operators below with the PyTorch dispatcher. Every op schema lives in this one block;
// the CPU implementations are in csrc/cpu/, the CUDA ones in csrc/cuda/ (CUDA builds only).
#include <Python.h>
#include <torch/library.h>

#ifndef SPIKEKIT_WITH_CUDA
#define SPIKEKIT_WITH_CUDA 0
#endif

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT, "_C", "spikekit custom operators (torch.ops.spikekit)", -1, nullptr};
  PyObject* module = PyModule_Create(&module_def);
  if (module != nullptr) PyModule_AddIntConstant(module, "WITH_CUDA", SPIKEKIT_WITH_CUDA);
  return module;
}
}

TORCH_LIBRARY(spikekit, m) {
  // --- bit packing (.dat layout): csrc/kernels/bits.h --------------------------------------
  // packed: uint8 (T, ceil(H*W/8)) -> uint8 (T, H, W) of {0,1}; flip = file rows bottom-up.
  m.def("unpack_spikes(Tensor packed, int height, int width, bool flip) -> Tensor");
  // Same, into a preallocated uint8 (T, H, W) buffer (lets callers reuse huge-page memory).
  m.def("unpack_spikes_into(Tensor packed, int height, int width, bool flip, Tensor(a!) out) -> ()");
  // spikes: uint8 (T, H, W) of {0,1} -> uint8 (T, ceil(H*W/8)).
  m.def("pack_spikes(Tensor spikes, bool flip) -> Tensor");

  // --- simulator (integrate-and-fire): csrc/kernels/simulate.h -----------------------------

  // --- reconstruction (TFP / TFI windows on packed streams): csrc/kernels/recon.h ----------
}

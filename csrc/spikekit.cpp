// The spikekit._C extension: an (almost) empty Python module whose import registers the
// operators below with the PyTorch dispatcher. Every op schema lives in this one block;
// each family folder csrc/<family>/ holds its CPU implementation (cpu.cpp) and its CUDA one
// (kernel.cu + binding.cpp, CUDA builds only).
// The module also says which CPU instruction-set path the kernels take (csrc/common/dispatch.h).
#include <Python.h>
#include <torch/library.h>

#include "common/dispatch.h"

#ifndef SPIKEKIT_WITH_CUDA
#define SPIKEKIT_WITH_CUDA 0
#endif

namespace {

// cpu_capability() -> (path in use, best path of this CPU), e.g. ("avx2", "avx512").
PyObject* cpu_capability(PyObject*, PyObject*) {
  using spikekit::kIsaNames;
  return Py_BuildValue("(ss)", kIsaNames[static_cast<int>(spikekit::cpu_isa())],
                       kIsaNames[static_cast<int>(spikekit::cpu_best_isa())]);
}

// set_cpu_capability(name): take path `name`; ValueError for an unknown name or one above the CPU's best.
PyObject* set_cpu_capability(PyObject*, PyObject* arg) {
  const char* name = PyUnicode_AsUTF8(arg);
  if (name == nullptr) return nullptr;
  const int isa = spikekit::isa_from_name(name);
  const int best = static_cast<int>(spikekit::cpu_best_isa());
  if (isa < 0 || isa > best) {
    PyErr_Format(PyExc_ValueError, "CPU capability %R: expected one of %s (this CPU's best: %s)", arg,
                 best == 2 ? "default, avx2, avx512" : best == 1 ? "default, avx2" : "default",
                 spikekit::kIsaNames[best]);
    return nullptr;
  }
  spikekit::cpu_isa_slot().store(isa);
  Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"cpu_capability", cpu_capability, METH_NOARGS, "(path in use, best path of this CPU)"},
    {"set_cpu_capability", set_cpu_capability, METH_O, "take CPU path 'default', 'avx2' or 'avx512'"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT, "_C", "spikekit custom operators (torch.ops.spikekit)", -1, methods};
  PyObject* module = PyModule_Create(&module_def);
  if (module != nullptr) PyModule_AddIntConstant(module, "WITH_CUDA", SPIKEKIT_WITH_CUDA);
  return module;
}
}

TORCH_LIBRARY(spikekit, m) {
  // --- bit packing (.dat layout): csrc/bits/ ----------------------------------------------
  // packed: uint8 (T, ceil(H*W/8)) -> uint8 (T, H, W) of {0,1}; flip = file rows bottom-up.
  m.def("unpack_spikes(Tensor packed, int height, int width, bool flip) -> Tensor");
  // Same, into a preallocated uint8 (T, H, W) buffer (lets callers reuse huge-page memory). The .out
  // overloads return nothing: functionalization (torch.compile) rejects custom ops whose outputs
  // alias an input.
  m.def("unpack_spikes.out(Tensor packed, int height, int width, bool flip, *, Tensor(a!) out) -> ()");
  // spikes: uint8 (T, H, W) of {0,1} -> uint8 (T, ceil(H*W/8)).
  m.def("pack_spikes(Tensor spikes, bool flip) -> Tensor");
  // Spike counts straight from packed bytes: (per-pixel int64 (H, W), per-frame int64 (T,)).
  m.def("spike_counts(Tensor packed, int height, int width, bool flip) -> (Tensor, Tensor)");

  // --- simulator (integrate-and-fire): csrc/simulate/ --------------------------------------
  // State acc, comp (Kahan compensation), theta: float32 (B, H, W). simulate_init fills them from
  // the seed (threshold mismatch sigma, random initial accumulator); comp is zeroed.
  m.def("simulate_init(Tensor(a!) acc, Tensor(b!) comp, Tensor(c!) theta, float threshold, float sigma, "
        "bool random_init, int seed) -> ()");
  // intensity float32 (B, N, H, W) in [0, 1] per spike frame; spike frames frame0 .. frame0+N-1.
  // out uint8 (B, N, ceil(H*W/8)) when packed (the .dat bytes), else (B, N, H, W) of {0,1}.
  m.def("simulate_frames(Tensor intensity, Tensor(a!) acc, Tensor(b!) comp, Tensor theta, float gain, "
        "float dark, float shot, int seed, int frame0, bool packed, Tensor(c!) out) -> ()");
  // Same, intensity of spike frame t = start + alpha[t] * delta (float32 (B, H, W), alpha (N)).
  m.def("simulate_interp(Tensor start, Tensor delta, Tensor alpha, Tensor(a!) acc, Tensor(b!) comp, "
        "Tensor theta, float gain, float dark, float shot, int seed, int frame0, bool packed, "
        "Tensor(c!) out) -> ()");

  // --- reconstruction (TFP / TFI windows on packed streams): csrc/recon/ -------------------
  // packed uint8 (T, ceil(H*W/8)), centres int64 (K,) -> float32 (K, H, W):
  // min(scale * spikes in [c - window/2, c - window/2 + window) / window, 1); centres whose window
  // leaves [0, T) are an error.
  m.def("tfp_packed(Tensor packed, int height, int width, bool flip, Tensor centres, int window, float scale) -> Tensor");
  m.def("tfp_packed.out(Tensor packed, int height, int width, bool flip, Tensor centres, int window, float scale, *, Tensor(a!) out) -> ()");
  // Same shapes: min(scale / ISI(c), 1), ISI searched up to max_interval frames each way.
  m.def("tfi_packed(Tensor packed, int height, int width, bool flip, Tensor centres, int max_interval, float scale) -> Tensor");
  m.def("tfi_packed.out(Tensor packed, int height, int width, bool flip, Tensor centres, int max_interval, float scale, *, Tensor(a!) out) -> ()");
  // spikes uint8/bool/float32 (N, T, P) (value > 0 = spike), centres int64 (K,) -> float32
  // (N, K, P) ISI in spike frames, in [1, 2 * max_interval].
  m.def("isi(Tensor spikes, Tensor centres, int max_interval) -> Tensor");

  // --- TFSTP (short-term plasticity recurrence): csrc/tfstp/ ---------------------------------
  // spikes uint8 (n, P); state r, u float64 (P,), last int64 (P,) (frame of the previous spike),
  // updated in place; emit int64 (K,) ascending local frames -> out float32 (K, P), the intensity
  // after each; local frame i is global frame t0 + i, pixels with last < origin read 0.
  m.def("tfstp_frames(Tensor spikes, Tensor(a!) r, Tensor(b!) u, Tensor(c!) last, Tensor emit, int t0, "
        "int origin, float u0, float D, float F, float f, float scale, Tensor(d!) out) -> ()");
}

"""The signal processing of the torch-msbg port (:mod:`hltk.simulate.torch_msbg`), which only
MSBG uses; the generic primitives it builds on (FFT convolution, ``fir2``) are in
:mod:`hltk.dsp`.

- :mod:`~hltk.simulate.msbg_dsp.level`: the active speech level and MSBG's input calibration;
- :mod:`~hltk.simulate.msbg_dsp.smearing`: spectral smearing (torch, and its compiled passes);
- :mod:`~hltk.simulate.msbg_dsp.gammatone`: the gammatone bank, envelope and recruitment on
  the torch path;
- :mod:`~hltk.simulate.msbg_dsp.iir`: exact IIR filtering as block state-space products (the
  torch path's recursions: differentiable, any device);
- :mod:`~hltk.simulate.msbg_dsp.compiled`: the compiled path's numba kernels (CPU, no
  autograd) for the gammatone bank, envelope and recruitment.
"""

"""Simulator kernels and the streaming Simulator: exact firing times, reference equality, noise."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import simulate_reference as ref
from conftest import DEVICES
from spikekit import ops
from spikekit.simulate import NoiseModel, Simulator, simulate
from spikekit.simulate.run import alphas, interpolate


def first_spikes(train) -> list[int]:
    return torch.as_tensor(train).nonzero().flatten().tolist()


# --- exact integrate-and-fire ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_0p1_fires_at_9_19_29(dtype):
    video = torch.full((1, 2, 3), 0.1, dtype=dtype)
    spikes = simulate(video, steps_per_frame=60, gain=1.0, threshold=1.0, noise="off")
    assert spikes.shape == (60, 2, 3) and spikes.dtype == torch.uint8
    for r in range(2):
        for c in range(3):
            assert first_spikes(spikes[:, r, c]) == [9, 19, 29, 39, 49, 59]


def test_constant_0p5_fires_on_odd_frames():
    sim = Simulator(1, 4, gain=1.0, noise="off")
    spikes = sim.step(torch.full((12, 1, 4), 0.5))
    assert first_spikes(spikes[:, 0, 2]) == [1, 3, 5, 7, 9, 11]


@pytest.mark.parametrize("k", [3, 7, 10, 100, 1000])
def test_intensity_one_over_k_fires_at_step_k(k, cpu_path):
    """Exact arithmetic reaches theta after k steps of 1/k: the k-th step fires (index k-1)."""
    sim = Simulator(1, 1, gain=1.0, noise="off")
    spikes = sim.step(torch.full((3 * k, 1, 1), 1.0 / k))
    assert first_spikes(spikes[:, 0, 0]) == [k - 1, 2 * k - 1, 3 * k - 1]


@pytest.mark.parametrize("intensity", [0.1, 0.37, 0.01, 0.999, 1e-3, 0.6180339])
@pytest.mark.parametrize("gain", [1.0, 0.6])
def test_long_run_rate_is_gain_times_intensity(intensity, gain):
    frames = 2_000_000
    sim = Simulator(1, 8, gain=gain, noise="off", packed=True)
    start = torch.full((1, 8), intensity)
    count = 0
    for _ in range(4):
        packed = sim.step_interp(start, torch.zeros(1, 8), torch.zeros(frames // 4))
        count += int(ops.spike_counts(packed, 1, 8)[1].sum())
    rate = count / (8 * frames)
    assert abs(rate - gain * intensity) <= 1e-6


def test_threshold_scales_the_rate():
    sim = Simulator(2, 2, gain=1.0, threshold=2.5, noise="off")
    spikes = sim.step(torch.full((1000, 2, 2), 0.5))
    assert first_spikes(spikes[:, 0, 0])[:2] == [4, 9]
    assert int(spikes.sum()) == 4 * 200


def test_flash_in_video_frame_5_fires_in_its_spike_frames():
    steps = 20
    video = np.zeros((10, 3, 4), np.float32)
    video[5] = 1.0
    spikes = simulate(video, steps_per_frame=steps, gain=1.0, noise="off")
    per_frame = spikes.sum(dim=(1, 2))
    fired = per_frame.nonzero().flatten()
    assert int(fired.min()) >= 4 * steps and int(fired.max()) < 6 * steps  # ramps up from frame 4, down after 5
    inside = int(per_frame[5 * steps:6 * steps].sum())
    assert inside > int(per_frame[4 * steps:5 * steps].sum()) and inside >= 12 * 5
    assert int(per_frame[5 * steps]) == 12  # I = 1 exactly at frame 5's first spike frame


def test_one_frame_video_is_a_static_scene():
    spikes = simulate(np.full((1, 2, 2), 0.5, np.float32), steps_per_frame=6, gain=1.0, noise="off")
    assert spikes.shape == (6, 2, 2)
    assert first_spikes(spikes[:, 1, 1]) == [1, 3, 5]


# --- the plain reference ----------------------------------------------------------------------

def _state(sim):
    return sim.acc.cpu().numpy().copy(), sim.comp.cpu().numpy().copy(), sim.theta.cpu().numpy().copy()


@pytest.mark.parametrize("size", [(5, 7), (3, 700), (16, 8)])
@pytest.mark.parametrize("noise", ["off", "on"])
def test_cpu_equals_numpy_reference(size, noise, cpu_path):
    H, W = size
    B, N = 2, 13
    model = NoiseModel(dark_rate=2000.0, threshold_sigma=0.05, electrons=300.0) if noise == "on" else "off"
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(B, N, H, W, generator=gen)
    x[0, 0, 0, 0] = 0.0
    x[1, 2, 0, 1] = 1.0
    sim = Simulator(H, W, batch=B, gain=0.8, threshold=1.3, noise=model, seed=12345, rate=20000.0)
    sim.frame = 6  # groups of 4 spike frames that straddle the call's edges
    acc0, comp0, theta0 = ref.init_state(B, H, W, 1.3, sim.noise.threshold_sigma, sim.noise.random_init, 12345)
    np.testing.assert_array_equal(sim.theta.numpy(), theta0)
    np.testing.assert_array_equal(sim.acc.numpy(), acc0)
    spikes = sim.step(x)
    want = ref.simulate_frames(x.numpy(), acc0, comp0, theta0, 0.8, sim.dark, sim.shot, 12345, 6)
    np.testing.assert_array_equal(spikes.numpy(), want)
    np.testing.assert_array_equal(sim.acc.numpy(), acc0)
    np.testing.assert_array_equal(sim.comp.numpy(), comp0)
    assert 0 < want.mean() < 1


@pytest.mark.parametrize("noise", ["off", "on"])
def test_interp_kernel_integrates_exactly_the_interpolated_intensity(noise, cpu_path):
    """simulate_interp == simulate_frames on interpolate()'s images: the GT is what pixels see."""
    H, W, S = 9, 21, 37
    gen = torch.Generator().manual_seed(2)
    f0, f1 = torch.rand(H, W, generator=gen), torch.rand(H, W, generator=gen)
    f1[0, :5] = torch.tensor([0.0, 1.0, 1e-30, 0.5, 0.25])
    delta, alpha = f1 - f0, alphas(S)
    a = Simulator(H, W, noise=noise, seed=5, gain=0.9)
    b = Simulator(H, W, noise=noise, seed=5, gain=0.9)
    sa = a.step_interp(f0, delta, alpha)
    sb = b.step(interpolate(f0, delta, alpha.view(-1, 1, 1)))
    assert torch.equal(sa, sb)
    np.testing.assert_array_equal(
        interpolate(f0, delta, alpha.view(-1, 1, 1)).numpy(),
        ref.interp_frames(f0.numpy()[None], delta.numpy()[None], alpha.numpy())[0].clip(0, 1))


def test_packed_output_is_the_dat_bytes():
    H, W = 7, 13  # 91 bits: a padded last byte and bytes straddling rows
    x = torch.rand(9, H, W, generator=torch.Generator().manual_seed(3))
    plain = Simulator(H, W, noise="on", seed=9).step(x)
    packed = Simulator(H, W, noise="on", seed=9, packed=True).step(x)
    assert packed.shape == (9, ops.frame_bytes(H, W))
    assert torch.equal(packed, ops.pack_spikes(plain))
    np.testing.assert_array_equal(packed.numpy(), ref.pack(plain.numpy()))


def test_normals_have_standard_moments():
    """The kernel's normals equal the reference's bit for bit (above); check the reference's."""
    pix = np.arange(250_000, dtype=np.uint64)
    z = np.concatenate([ref.shot_normal(7, pix, f, 0) for f in range(4)]).astype(np.float64)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs(((z - z.mean()) ** 4).mean() / z.var() ** 2 - 3) < 0.05
    assert abs((z > 2).mean() - 0.02275) < 0.001
    assert abs(np.corrcoef(z[:250_000], z[250_000:500_000])[0, 1]) < 0.01  # the Box-Muller partners


# --- chunking, seeds, batches --------------------------------------------------------------------

@pytest.mark.parametrize("packed", [False, True])
def test_chunked_equals_one_shot(packed, cpu_path):
    H, W = 11, 17
    x = torch.rand(50, H, W, generator=torch.Generator().manual_seed(4))
    one = Simulator(H, W, noise="on", seed=3, packed=packed).step(x)
    sim = Simulator(H, W, noise="on", seed=3, packed=packed)
    parts = [sim.step(x[a:b]) for a, b in ((0, 1), (1, 6), (6, 7), (7, 30), (30, 50))]
    assert torch.equal(one, torch.cat(parts))


def test_video_chunking_does_not_change_the_stream(tmp_path):
    from spikekit.io import read_dat
    from spikekit.simulate import simulate_to_file

    video = np.random.default_rng(0).random((4, 6, 10)).astype(np.float32)
    whole = simulate(video, steps_per_frame=30, seed=2)
    for chunk in (7, 30, 64):
        path = tmp_path / f"c{chunk}.dat"
        simulate_to_file(video, path, steps_per_frame=30, seed=2, chunk=chunk)
        assert torch.equal(read_dat(path), whole)


def test_same_seed_same_bits_different_seed_different_bits():
    x = torch.rand(40, 8, 8, generator=torch.Generator().manual_seed(5)) * 0.5
    a = Simulator(8, 8, seed=1).step(x)
    b = Simulator(8, 8, seed=1).step(x)
    c = Simulator(8, 8, seed=2).step(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    sim = Simulator(8, 8, seed=1)
    first = sim.step(x)
    assert torch.equal(sim.reset().step(x), first)  # reset() keeps the seed
    assert not torch.equal(sim.reset(seed=2).step(x), first) and sim.frame == 40


def test_global_rng_untouched():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    Simulator(4, 4, seed=3).step(torch.rand(5, 4, 4, generator=torch.Generator()))
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)


def test_batch_elements_are_independent_and_element_0_is_the_single_sensor():
    x = torch.rand(3, 20, 6, 5, generator=torch.Generator().manual_seed(6))
    batched = Simulator(6, 5, batch=3, seed=4).step(x)
    assert batched.shape == (3, 20, 6, 5)
    assert torch.equal(batched[0], Simulator(6, 5, seed=4).step(x[0]))
    same = x[0].expand(3, -1, -1, -1).contiguous()
    out = Simulator(6, 5, batch=3, seed=4).step(same)
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])
    packed = Simulator(6, 5, batch=3, seed=4, packed=True).step(x)
    assert packed.shape == (3, 20, 4) and torch.equal(packed[1], ops.pack_spikes(batched[1]))


# --- noise statistics --------------------------------------------------------------------------

def test_dark_current_rate():
    rate, dark_rate, frames = 40000.0, 800.0, 4000
    model = NoiseModel(dark_rate=dark_rate, threshold_sigma=0.0)
    sim = Simulator(64, 64, noise=model, rate=rate, packed=True)
    packed = sim.step_interp(torch.zeros(64, 64), torch.zeros(64, 64), torch.zeros(frames))
    spikes = int(ops.spike_counts(packed, 64, 64)[1].sum())
    measured = spikes / (64 * 64) / (frames / rate)  # Hz
    assert measured == pytest.approx(dark_rate, rel=0.02)


def test_threshold_spread_and_initial_accumulator():
    sim = Simulator(100, 100, noise=NoiseModel(threshold_sigma=0.05), threshold=2.0, seed=8)
    rel = sim.theta.numpy() / 2.0
    assert rel.std() == pytest.approx(0.05, rel=0.03) and rel.mean() == pytest.approx(1.0, abs=0.002)
    u = (sim.acc / sim.theta).numpy()
    assert u.min() >= 0 and u.max() < 1 and u.mean() == pytest.approx(0.5, abs=0.01)
    assert u.std() == pytest.approx(np.sqrt(1 / 12), rel=0.02)
    off = Simulator(10, 10, noise="off", threshold=2.0)
    assert torch.all(off.acc == 0) and torch.all(off.theta == 2.0)
    clamped = Simulator(50, 50, noise=NoiseModel(threshold_sigma=2.0), seed=1)
    assert float(clamped.theta.min()) == pytest.approx(0.05) and float(clamped.theta.min()) > 0


def test_shot_noise_keeps_the_mean_and_spreads_the_intervals():
    frames = 20000
    x0 = torch.full((32, 32), 0.3)
    plain = Simulator(32, 32, noise=NoiseModel(random_init=False, threshold_sigma=0, dark_rate=0, shot=False))
    noisy = Simulator(32, 32, noise=NoiseModel(random_init=False, threshold_sigma=0, dark_rate=0, electrons=50.0))
    zero, alpha = torch.zeros(32, 32), torch.zeros(frames)
    sp, sn = plain.step_interp(x0, zero, alpha), noisy.step_interp(x0, zero, alpha)
    assert float(sn.float().mean()) == pytest.approx(0.6 * 0.3, rel=0.01)
    intervals = lambda s: np.diff(s[:, 3, 3].nonzero().flatten().numpy())
    assert intervals(sp).std() < 0.6 and intervals(sn).std() > 0.6


# --- API and errors -----------------------------------------------------------------------------

def test_op_schemas_with_opcheck():
    H, W = 5, 6
    acc, comp, theta = (torch.zeros(2, H, W) for _ in range(3))
    torch.library.opcheck(torch.ops.spikekit.simulate_init.default, (acc, comp, theta, 1.0, 0.1, True, 3))
    x = torch.rand(2, 4, H, W)
    out = torch.empty(2, 4, ops.frame_bytes(H, W), dtype=torch.uint8)
    torch.library.opcheck(torch.ops.spikekit.simulate_frames.default,
                          (x, acc, comp, theta, 0.6, 0.0, 0.001, 3, 0, True, out))
    out4 = torch.empty(2, 4, H, W, dtype=torch.uint8)
    torch.library.opcheck(torch.ops.spikekit.simulate_interp.default,
                          (x[:, 0].contiguous(), x[:, 1].contiguous(), torch.rand(4), acc, comp, theta, 0.6, 0.0,
                           0.0, 3, 0, False, out4))


def test_op_argument_errors_name_the_argument():
    acc = torch.zeros(1, 3, 3)
    out = torch.empty(1, 2, 3, 3, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="simulate_frames: intensity must be float32"):
        ops.simulate_frames(torch.zeros(1, 2, 3, 3, dtype=torch.float64), acc, acc.clone(), acc.clone(), 1, 0, 0, 0,
                            0, False, out)
    with pytest.raises(RuntimeError, match="simulate_frames: out must be 3-D"):
        ops.simulate_frames(torch.zeros(1, 2, 3, 3), acc, acc.clone(), acc.clone(), 1, 0, 0, 0, 0, True, out)
    with pytest.raises(RuntimeError, match="theta must have shape"):
        ops.simulate_frames(torch.zeros(1, 2, 3, 3), acc, acc.clone(), torch.zeros(1, 3, 4), 1, 0, 0, 0, 0, False, out)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 0}, "threshold must be > 0"), ({"threshold": -1}, "threshold must be > 0"),
    ({"rate": 0}, "rate must be > 0"), ({"gain": -0.1}, "gain must be >= 0"),
    ({"noise": "loud"}, "noise must be"), ({"noise": NoiseModel(electrons=0)}, "electrons"),
    ({"noise": NoiseModel(dark_rate=-1)}, "dark_rate"),
])
def test_simulator_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Simulator(4, 4, **kwargs)


def test_step_input_errors():
    sim = Simulator(4, 5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sim.step(torch.full((2, 4, 5), 1.5))
    with pytest.raises(ValueError, match="shape"):
        sim.step(torch.zeros(2, 5, 4))
    with pytest.raises(TypeError, match="float"):
        sim.step(torch.zeros(2, 4, 5, dtype=torch.uint8))
    assert sim.frame == 0
    lenient = Simulator(1, 1, gain=1.0, noise="off", validate=False)
    assert first_spikes(lenient.step(torch.tensor([[[2.0]], [[float("nan")]], [[-1.0]], [[1.0]]]))[:, 0, 0]) == [0, 3]


@pytest.mark.cuda
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("noise", ["off", "on"])
def test_cuda_equals_cpu_bit_for_bit(packed, noise):
    H, W, B = 37, 53, 3
    x = torch.rand(B, 45, H, W, generator=torch.Generator().manual_seed(7))
    cpu = Simulator(H, W, batch=B, seed=11, noise=noise, packed=packed)
    gpu = Simulator(H, W, batch=B, seed=11, noise=noise, packed=packed, device="cuda")
    for a, b in ((0, 3), (3, 45)):
        assert torch.equal(cpu.step(x[:, a:b]), gpu.step(x[:, a:b].cuda()).cpu())
    assert torch.equal(cpu.acc, gpu.acc.cpu()) and torch.equal(cpu.theta, gpu.theta.cpu())
    f0, delta = x[0, 0], x[0, 1] - x[0, 0]
    one_cpu = Simulator(H, W, seed=2, noise=noise, packed=packed)
    one_gpu = Simulator(H, W, seed=2, noise=noise, packed=packed, device="cuda")
    assert torch.equal(one_cpu.step_interp(f0, delta, alphas(30)),
                       one_gpu.step_interp(f0.cuda(), delta.cuda(), alphas(30).cuda()).cpu())


@pytest.mark.parametrize("device", DEVICES)
def test_training_batch_shape_on_device(device):
    sim = Simulator(40, 40, batch=4, device=device, seed=0)
    x = torch.rand(4, 41, 40, 40, device=device)
    spikes = sim.step(x)
    assert spikes.shape == (4, 41, 40, 40) and spikes.device.type == device and spikes.dtype == torch.uint8
    assert 0.2 < float(spikes.float().mean()) / float(x.mean() * 0.6) < 1.5

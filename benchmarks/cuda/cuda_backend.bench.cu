// The CUDA backend's benchmark on LLaMA-7B shapes, each time against a ceiling measured in the
// same binary (device copy bandwidth, cuBLAS GEMM rate): moments and mask selection as a
// fraction of the copy bandwidth, the Gram update as a fraction of the GEMM rate of its
// precision, and SparseGPT on one transformer block's linears (4 x 4096², 2 x 11008x4096,
// 1 x 4096x11008; one factorisation per shared input) against its floor (update flops at the
// fp32 GEMM rate plus the factorisations). CUDA events, after a warm-up; medians of repeats.
// Prints a table; `--quick` runs small shapes (a smoke test); `--dump DIR` also writes one
// linear of each shape (Hessian, weights, pruned weights) for sparsegpt_reference.py --compare;
// `--sparsegpt-only` leaves out the metrics and statistics.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "pollard/cuda.cuh"

namespace {

namespace gpu = pollard::cuda;
using pollard::index_t;

/// Median milliseconds of `repeats` timed runs of f (after one untimed run).
double median_ms(const std::function<void()>& f, int repeats = 5) {
  cudaEvent_t start, stop;
  POLLARD_CUDA_CHECK(cudaEventCreate(&start));
  POLLARD_CUDA_CHECK(cudaEventCreate(&stop));
  f();
  POLLARD_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    POLLARD_CUDA_CHECK(cudaEventRecord(start));
    f();
    POLLARD_CUDA_CHECK(cudaEventRecord(stop));
    POLLARD_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    POLLARD_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(static_cast<double>(ms));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// Normal(0, scale) values written on the device (seeded): never zeros.
__global__ void fill_normal(float* out, std::size_t n, unsigned long long seed, float scale) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    unsigned long long x = (k + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    const float u1 = (static_cast<float>(x >> 40) + 0.5f) / 16777216.0f;
    const float u2 = (static_cast<float>(x & 0xffffff) + 0.5f) / 16777216.0f;
    out[k] = scale * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
  }
}
__global__ void to_bfloat16(const float* in, pollard::bfloat16* out, std::size_t n) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[k] = pollard::bfloat16(in[k]);
}
void random_fill(float* out, std::size_t n, unsigned long long seed, float scale = 1.0f) {
  fill_normal<<<4096, 256>>>(out, n, seed, scale);
  POLLARD_CUDA_CHECK_LAUNCH("fill_normal");
}
__global__ void absolute_values(float* x, std::size_t n) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[k] = fabsf(x[k]);
}
__global__ void add_scaled(const float* x, float scale, float* y, std::size_t n) {
  for (std::size_t k = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[k] += scale * x[k];
}

struct ceilings {
  double copy_bytes_per_s = 0, fp32_flops = 0, bf16_flops = 0;
};

ceilings measure_ceilings(bool quick) {
  ceilings c;
  const std::size_t bytes = quick ? (std::size_t{1} << 26) : (std::size_t{1} << 31);
  gpu::device_buffer<char> a(bytes), b(bytes);
  POLLARD_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
  const double copy_ms = median_ms([&] {
    POLLARD_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice));
  });
  c.copy_bytes_per_s = 2.0 * static_cast<double>(bytes) / (copy_ms * 1e-3);

  const int n = quick ? 1024 : 8192;
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  gpu::device_buffer<float> x(nn), y(nn), z(nn);
  random_fill(x.data(), nn, 1);
  random_fill(y.data(), nn, 2);
  cublasHandle_t blas = gpu::par.resources().cublas();
  const float one = 1.0f, zero = 0.0f;
  const double fp32_ms = median_ms([&] {
    POLLARD_CUDA_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, x.data(), n,
                                   y.data(), n, &zero, z.data(), n));
  });
  c.fp32_flops = 2.0 * n * static_cast<double>(n) * n / (fp32_ms * 1e-3);
  gpu::device_buffer<pollard::bfloat16> xb(nn), yb(nn);
  to_bfloat16<<<4096, 256>>>(x.data(), xb.data(), nn);
  to_bfloat16<<<4096, 256>>>(y.data(), yb.data(), nn);
  const double bf16_ms = median_ms([&] {
    POLLARD_CUDA_CHECK(cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, &one, xb.data(),
                                    CUDA_R_16BF, n, yb.data(), CUDA_R_16BF, n, &zero, z.data(),
                                    CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  c.bf16_flops = 2.0 * n * static_cast<double>(n) * n / (bf16_ms * 1e-3);
  std::printf(
      "ceilings: device copy %.2f TB/s (read + write), fp32 GEMM %.1f TFLOP/s, bf16 GEMM "
      "(fp32 out) %.1f TFLOP/s\n",
      c.copy_bytes_per_s * 1e-12, c.fp32_flops * 1e-12, c.bf16_flops * 1e-12);
  return c;
}

void statistics(const ceilings& c, bool quick) {
  const index_t tokens = quick ? 4096 : 128 * 2048;
  // Two references: the square 8192 GEMM of measure_ceilings, and a GEMM of the update's own
  // shape (the whole XᵀX, d x d x tokens, both triangles: 2·tokens·d² flops) timed just before,
  // since a long fp32 product runs at a lower sustained clock than a short one.
  std::printf(
      "\n| Gram update, %lld tokens | d | time ms | TFLOP/s | fraction of the GEMM rate | "
      "same-shape GEMM TFLOP/s | fraction of it |\n",
      static_cast<long long>(tokens));
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const index_t d :
       quick ? std::vector<index_t>{256} : std::vector<index_t>{4096, 11008, 14336}) {
    const auto n = static_cast<std::size_t>(tokens * d);
    gpu::device_buffer<float> x(n), h(static_cast<std::size_t>(d * d));
    random_fill(x.data(), n, 3);
    const auto xv = x.view(tokens, d);
    const auto hv = h.view(d, d);
    cublasHandle_t blas = gpu::par.resources().cublas();
    const float one = 1.0f, zero = 0.0f;
    const auto di = static_cast<int>(d), ti = static_cast<int>(tokens);
    const double full_ms = median_ms(
        [&] {
          POLLARD_CUDA_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, di, di, ti, &one, x.data(),
                                         di, x.data(), di, &zero, h.data(), di));
        },
        3);
    const double full_flops = 2.0 * static_cast<double>(tokens) * static_cast<double>(d) *
                              static_cast<double>(d) / (full_ms * 1e-3);
    const double fp32_ms = median_ms([&] { gpu::gram_update(gpu::par, hv, xv, 1.0f); }, 3);
    const double useful =
        static_cast<double>(tokens) * static_cast<double>(d) * static_cast<double>(d + 1);
    const double rate = useful / (fp32_ms * 1e-3);
    std::printf("| fp32 (syrk + GEMM panels) | %lld | %.2f | %.1f | %.2f | %.1f | %.2f |\n",
                static_cast<long long>(d), fp32_ms, rate * 1e-12, rate / c.fp32_flops,
                full_flops * 1e-12, rate / full_flops);
    {
      gpu::device_buffer<pollard::bfloat16> xb(n);
      to_bfloat16<<<4096, 256>>>(x.data(), xb.data(), n);
      const double bf16_ms =
          median_ms([&] { gpu::gram_update(gpu::par, hv, xb.view(tokens, d), 1.0f); }, 3);
      const double executed =
          2.0 * static_cast<double>(tokens) * static_cast<double>(d) * static_cast<double>(d);
      std::printf(
          "| bf16 in, fp32 out (GemmEx, both triangles) | %lld | %.2f | %.1f executed | %.2f | | "
          "|\n",
          static_cast<long long>(d), bf16_ms, executed / (bf16_ms * 1e-3) * 1e-12,
          executed / (bf16_ms * 1e-3) / c.bf16_flops);
    }
  }
}

__global__ void empty_kernel() {}

/// The memory-bound passes as a fraction of the copy bandwidth, after the fixed cost of one
/// call that returns a result to the host (an empty kernel, an 8-byte copy back, a
/// synchronisation), which bounds what a short pass can reach.
void memory_passes(const ceilings& c, bool quick) {
  {
    gpu::device_buffer<unsigned long long> word(1);
    auto* const host = static_cast<unsigned long long*>(gpu::par.resources().host_staging(8));
    const cudaStream_t stream = gpu::par.resources().stream();
    const double floor_ms = median_ms([&] {
      empty_kernel<<<1, 32, 0, stream>>>();
      POLLARD_CUDA_CHECK(cudaMemcpyAsync(host, word.data(), 8, cudaMemcpyDeviceToHost, stream));
      POLLARD_CUDA_CHECK(cudaStreamSynchronize(stream));
    });
    std::printf("\nround trip of one call (empty kernel, 8 bytes back, synchronise): %.3f ms\n",
                floor_ms);
  }
  // Moments: one read of X; mask selection: one read of the scores, one byte written per entry.
  // Moments of 4096 tokens, and of one batch of 8 sequences of 2048 tokens.
  const index_t cols = quick ? 1024 : 4096;
  std::printf(
      "\n| pass | shape | time ms | GB/s | fraction of the copy bandwidth "
      "|\n|---|---|---|---|---|\n");
  for (const index_t rows :
       quick ? std::vector<index_t>{1024} : std::vector<index_t>{4096, 16384}) {
    const auto n = static_cast<std::size_t>(rows * cols);
    gpu::device_buffer<float> x(n);
    random_fill(x.data(), n, 4);
    const double ms =
        median_ms([&] { gpu::moments_of_columns<double>(gpu::par, x.view(rows, cols)); });
    const double bytes = 4.0 * static_cast<double>(n);
    std::printf(
        "| moments (fp32 in, fp64 sums, with the finiteness check) | %lldx%lld | %.3f | "
        "%.0f | %.2f |\n",
        static_cast<long long>(rows), static_cast<long long>(cols), ms, bytes / (ms * 1e-3) * 1e-9,
        bytes / (ms * 1e-3) / c.copy_bytes_per_s);
    // The same batch accumulated 8 times on the device, then one result(): what a calibration
    // loop pays per batch when it waits only once.
    constexpr int batches = 8;
    gpu::device_moment_statistics<double> stats(gpu::par, cols);
    const double per_batch_ms = median_ms([&] {
                                  for (int b = 0; b < batches; ++b)
                                    stats.accumulate(gpu::par, x.view(rows, cols));
                                  (void)stats.result(gpu::par);
                                }) /
                                batches;
    std::printf(
        "| moments accumulated, %d batches per result (device_moment_statistics, per batch) | "
        "%lldx%lld | %.3f | %.0f | %.2f |\n",
        batches, static_cast<long long>(rows), static_cast<long long>(cols), per_batch_ms,
        bytes / (per_batch_ms * 1e-3) * 1e-9, bytes / (per_batch_ms * 1e-3) / c.copy_bytes_per_s);
  }
  const index_t d_out = quick ? 512 : 11008, d_in = quick ? 512 : 4096;
  const auto n = static_cast<std::size_t>(d_out * d_in);
  gpu::device_buffer<float> scores(n);
  random_fill(scores.data(), n, 5);
  const auto sv = scores.view(d_out, d_in);
  const double bytes = 5.0 * static_cast<double>(n);
  const auto row = [&](const char* name, double ms) {
    std::printf("| %s | %lldx%lld | %.3f | %.0f | %.3f |\n", name, static_cast<long long>(d_out),
                static_cast<long long>(d_in), ms, bytes / (ms * 1e-3) * 1e-9,
                bytes / (ms * 1e-3) / c.copy_bytes_per_s);
  };
  row("mask per row 50 % (with the NaN check)",
      median_ms([&] { gpu::select_mask(gpu::par, pollard::unstructured{0.5}, sv); }));
  row("mask 2:4 (with the NaN check)",
      median_ms([&] { gpu::select_mask(gpu::par, pollard::n_m::pruned_of(2, 4), sv); }));
  // Wanda's scores |W|·‖X‖ are >= 0: the 50 % cut then lies inside the bulk of the values
  // (the median of |N(0, 1)|, 0.67), where a row's keys share few leading bits, rather than
  // near 0 as for signed N(0, 1) scores.
  absolute_values<<<4096, 256>>>(scores.data(), n);
  POLLARD_CUDA_CHECK_LAUNCH("absolute_values");
  row("mask per row 50 %, |N(0, 1)| scores (with the NaN check)",
      median_ms([&] { gpu::select_mask(gpu::par, pollard::unstructured{0.5}, sv); }));
}

/// The metrics on device logits as a fraction of the copy bandwidth (bytes: one read of the
/// logits): the divergence of Q = P + N(0, 0.3²) from P (logits N(0, 3²)), and the NLLs of P.
void metrics(const ceilings& c, bool quick) {
  std::printf(
      "\n| metric on device logits | positions x vocabulary | logits | time ms | GB/s read | "
      "fraction of the copy bandwidth |\n|---|---|---|---|---|---|\n");
  struct shape {
    index_t positions, vocabulary;
  };
  const std::vector<shape> shapes =
      quick ? std::vector<shape>{{256, 32000}}
            : std::vector<shape>{{4096, 32000}, {1024, 128256}, {2048, 151936}};
  for (const auto& s : shapes) {
    const auto n = static_cast<std::size_t>(s.positions * s.vocabulary);
    gpu::device_buffer<float> p(n), q(n), noise(n);
    random_fill(p.data(), n, 30, 3.0f);
    random_fill(noise.data(), n, 31, 0.3f);
    POLLARD_CUDA_CHECK(cudaMemcpy(q.data(), p.data(), n * sizeof(float), cudaMemcpyDeviceToDevice));
    add_scaled<<<4096, 256>>>(noise.data(), 1.0f, q.data(), n);
    POLLARD_CUDA_CHECK_LAUNCH("add_scaled");
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(s.positions));
    for (std::size_t k = 0; k < tokens.size(); ++k)
      tokens[k] = static_cast<std::int32_t>((k * 7919) % static_cast<std::size_t>(s.vocabulary));
    const auto report = [&](const char* name, const char* type, double bytes, double ms) {
      std::printf("| %s | %lldx%lld | %s | %.3f | %.0f | %.2f |\n", name,
                  static_cast<long long>(s.positions), static_cast<long long>(s.vocabulary), type,
                  ms, bytes / (ms * 1e-3) * 1e-9, bytes / (ms * 1e-3) / c.copy_bytes_per_s);
    };
    const auto pv = p.view(s.positions, s.vocabulary), qv = q.view(s.positions, s.vocabulary);
    const std::span<const std::int32_t> ts(tokens);
    const double bytes = 4.0 * static_cast<double>(n);
    report("divergence (JS, KL, Δp, NLLs, top-1)", "fp32", 2.0 * bytes,
           median_ms([&] { gpu::divergence_samples(gpu::par, pv, qv, ts); }));
    {
      // Models further apart: Q = P + N(0, 1.5²), a third of the entries with |log q − log p|
      // >= 3/2 (the far forms of the terms in every warp).
      gpu::device_buffer<float> far_q(n);
      POLLARD_CUDA_CHECK(
          cudaMemcpy(far_q.data(), p.data(), n * sizeof(float), cudaMemcpyDeviceToDevice));
      add_scaled<<<4096, 256>>>(noise.data(), 5.0f, far_q.data(), n);
      POLLARD_CUDA_CHECK_LAUNCH("add_scaled");
      const auto fv = far_q.view(s.positions, s.vocabulary);
      report("divergence, Q = P + N(0, 1.5²)", "fp32", 2.0 * bytes,
             median_ms([&] { gpu::divergence_samples(gpu::par, pv, fv, ts); }));
    }
    report("perplexity (NLL per position)", "fp32", bytes,
           median_ms([&] { gpu::target_nlls(gpu::par, pv, ts); }));
    gpu::device_buffer<pollard::bfloat16> pb(n), qb(n);
    to_bfloat16<<<4096, 256>>>(p.data(), pb.data(), n);
    to_bfloat16<<<4096, 256>>>(q.data(), qb.data(), n);
    const auto pbv = pb.view(s.positions, s.vocabulary), qbv = qb.view(s.positions, s.vocabulary);
    report("divergence (JS, KL, Δp, NLLs, top-1)", "bf16", bytes,
           median_ms([&] { gpu::divergence_samples(gpu::par, pbv, qbv, ts); }));
    report("perplexity (NLL per position)", "bf16", bytes / 2.0,
           median_ms([&] { gpu::target_nlls(gpu::par, pbv, ts); }));
  }
}

/// Update flops of the lazy-batch sweep on d_out x d_in with blocks of b: the in-block updates
/// and the lazy products, 2 flops per multiply-add.
double sweep_flops(index_t d_out, index_t d_in, index_t b) {
  double flops = 0.0;
  for (index_t i1 = 0; i1 < d_in; i1 += b) {
    const index_t nb = std::min(b, d_in - i1);
    flops += static_cast<double>(d_out) * static_cast<double>(nb) * static_cast<double>(nb);
    flops += 2.0 * static_cast<double>(d_out) * static_cast<double>(nb) *
             static_cast<double>(d_in - i1 - nb);
  }
  return flops;
}

/// Writes `count` floats of device memory to `path` (raw little-endian float32).
void write_floats(const std::string& path, const float* device, std::size_t count) {
  std::vector<float> host(count);
  POLLARD_CUDA_CHECK(
      cudaMemcpy(host.data(), device, count * sizeof(float), cudaMemcpyDeviceToHost));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(host.data()),
            static_cast<std::streamsize>(count * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void sparsegpt_block(const ceilings& c, bool quick, const std::string& dump_dir) {
  struct linear {
    const char* name;
    index_t d_out, d_in;
    int input;  // which shared input (Hessian) it reads
  };
  const index_t hidden = quick ? 512 : 4096, inner = quick ? 1376 : 11008;
  const std::vector<linear> linears = {{"q", hidden, hidden, 0},   {"k", hidden, hidden, 0},
                                       {"v", hidden, hidden, 0},   {"o", hidden, hidden, 1},
                                       {"gate", inner, hidden, 2}, {"up", inner, hidden, 2},
                                       {"down", hidden, inner, 3}};
  const std::vector<index_t> input_width = {hidden, hidden, hidden, inner};
  const index_t tokens = quick ? 2048 : 16384;

  std::vector<gpu::device_buffer<float>> hessians;
  for (std::size_t k = 0; k < input_width.size(); ++k) {
    const index_t d = input_width[k];
    gpu::device_buffer<float> x(static_cast<std::size_t>(tokens * d));
    random_fill(x.data(), x.size(), 10 + k);
    hessians.emplace_back(static_cast<std::size_t>(d * d));
    POLLARD_CUDA_CHECK(
        cudaMemset(hessians.back().data(), 0, hessians.back().size() * sizeof(float)));
    gpu::gram_update(gpu::par, hessians.back().view(d, d), x.view(tokens, d),
                     2.0f / static_cast<float>(tokens));
    gpu::symmetrize_from_lower(gpu::par, hessians.back().view(d, d));
  }
  std::vector<gpu::device_buffer<float>> originals, weights;
  for (std::size_t l = 0; l < linears.size(); ++l) {
    const auto n = static_cast<std::size_t>(linears[l].d_out * linears[l].d_in);
    originals.emplace_back(n);
    weights.emplace_back(n);
    random_fill(originals.back().data(), n, 20 + l, 0.02f);
  }
  std::vector<gpu::device_upper_factor> factors(input_width.size());
  const auto factorise = [&](gpu::factor_precision precision = gpu::factor_precision::automatic) {
    for (std::size_t k = 0; k < input_width.size(); ++k)
      factors[k] = gpu::upper_cholesky_of_inverse(
          gpu::par,
          pollard::device_view<const float>(hessians[k].data(), input_width[k], input_width[k]),
          0.01, 5, "sparsegpt", precision);
  };
  const double factor_ms = median_ms([&] { factorise(); }, 3);
  for (const std::size_t k : {std::size_t{0}, std::size_t{3}}) {
    const index_t d = input_width[k];
    const pollard::device_view<const float> hv(hessians[k].data(), d, d);
    const double one_ms =
        median_ms([&] { factors[k] = gpu::upper_cholesky_of_inverse(gpu::par, hv, 0.01, 5); }, 3);
    gpu::device_buffer<float> a(static_cast<std::size_t>(d * d));
    int bytes = 0;
    cusolverDnHandle_t solver = gpu::par.resources().cusolver();
    POLLARD_CUDA_CHECK(cusolverDnSpotrf_bufferSize(solver, CUBLAS_FILL_MODE_LOWER,
                                                   static_cast<int>(d), a.data(),
                                                   static_cast<int>(d), &bytes));
    gpu::device_buffer<float> work(static_cast<std::size_t>(bytes));
    gpu::device_buffer<int> info(1);
    const double potrf_ms = median_ms(
        [&] {
          POLLARD_CUDA_CHECK(cudaMemcpyAsync(a.data(), hessians[k].data(), a.size() * sizeof(float),
                                             cudaMemcpyDeviceToDevice));
          POLLARD_CUDA_CHECK(cusolverDnSpotrf(solver, CUBLAS_FILL_MODE_LOWER, static_cast<int>(d),
                                              a.data(), static_cast<int>(d), work.data(), bytes,
                                              info.data()));
        },
        3);
    std::printf(
        "factor n = %lld: upper_cholesky_of_inverse %.2f ms, of which potrf alone (+ copy) %.2f "
        "ms\n",
        static_cast<long long>(d), one_ms, potrf_ms);
  }
  double floor_flops = 0.0;
  for (const auto& l : linears) floor_flops += sweep_flops(l.d_out, l.d_in, 128);
  const double floor_ms = floor_flops / c.fp32_flops * 1e3 + factor_ms;

  std::printf(
      "\n| SparseGPT, one LLaMA-7B block (7 linears, 4 factorisations) | time ms | x32 blocks s | "
      "floor ms | time / floor |\n|---|---|---|---|---|\n");
  std::printf(
      "| factorisations only (U of (H + λI)⁻¹, once per shared input, %s) | %.1f | %.2f | | |\n",
      gpu::resolved_factor_precision(gpu::factor_precision::automatic) ==
              gpu::factor_precision::fp64
          ? "fp64"
          : "fp32",
      factor_ms, factor_ms * 32e-3);
  std::vector<gpu::device_mask> masks(linears.size());
  // Masks to the host (result.mask), or left on the device (`chosen`: no host copy).
  const auto run = [&](const char* name, const auto& policy, bool device_masks,
                       gpu::factor_precision precision = gpu::factor_precision::automatic) {
    const double ms = median_ms(
        [&] {
          factorise(precision);
          for (std::size_t l = 0; l < linears.size(); ++l) {
            POLLARD_CUDA_CHECK(cudaMemcpyAsync(weights[l].data(), originals[l].data(),
                                               weights[l].size() * sizeof(float),
                                               cudaMemcpyDeviceToDevice));
            gpu::sparsegpt(gpu::par, weights[l].view(linears[l].d_out, linears[l].d_in),
                           factors[static_cast<std::size_t>(linears[l].input)], policy, {},
                           device_masks ? &masks[l] : nullptr);
          }
        },
        3);
    const bool fp64 = gpu::resolved_factor_precision(precision) == gpu::factor_precision::fp64;
    std::printf(
        "| %s, masks %s, %s factorisations%s (factorisations + sweeps) | %.1f | %.2f | %.1f "
        "| %.2f |\n",
        name, device_masks ? "left on the device" : "to the host", fp64 ? "fp64" : "fp32",
        precision == gpu::factor_precision::automatic ? " (automatic)" : "", ms, ms * 32e-3,
        floor_ms, ms / floor_ms);
  };
  for (const bool device_masks : {false, true}) {
    run("50 % unstructured, blocks of 128",
        pollard::unstructured{0.5, pollard::per_column_block{128}}, device_masks);
    run("2:4", pollard::n_m::pruned_of(2, 4), device_masks);
  }
  // The other precision than the automatic choice, for comparison.
  const auto other = gpu::resolved_factor_precision(gpu::factor_precision::automatic) ==
                             gpu::factor_precision::fp64
                         ? gpu::factor_precision::fp32
                         : gpu::factor_precision::fp64;
  run("50 % unstructured, blocks of 128",
      pollard::unstructured{0.5, pollard::per_column_block{128}}, true, other);
  run("2:4", pollard::n_m::pruned_of(2, 4), true, other);
  factorise();

  // Inputs and outputs of one linear of each shape (q, gate, down), for the PyTorch reference
  // to prune the same weights with the same Hessians and compare (sparsegpt_reference.py
  // --compare DIR).
  if (!dump_dir.empty()) {
    std::ofstream manifest(dump_dir + "/manifest.txt");
    for (const std::size_t l : {std::size_t{0}, std::size_t{4}, std::size_t{6}}) {
      const auto& ln = linears[l];
      const auto input = static_cast<std::size_t>(ln.input);
      const auto n = static_cast<std::size_t>(ln.d_out * ln.d_in);
      const std::string base = dump_dir + "/" + ln.name;
      write_floats(base + ".h.bin", hessians[input].data(), hessians[input].size());
      write_floats(base + ".w.bin", originals[l].data(), n);
      const auto prune = [&](const char* rule, const auto& policy,
                             const pollard::sparsegpt_options& options) {
        POLLARD_CUDA_CHECK(cudaMemcpy(weights[l].data(), originals[l].data(), n * sizeof(float),
                                      cudaMemcpyDeviceToDevice));
        gpu::sparsegpt(gpu::par, weights[l].view(ln.d_out, ln.d_in), factors[input], policy,
                       options);
        write_floats(base + "." + rule + ".bin", weights[l].data(), n);
      };
      const pollard::unstructured half{0.5, pollard::per_column_block{128}};
      prune("50", half, {});
      prune("50-reference-threshold", half, {.reference_threshold = true});
      prune("2-4", pollard::n_m::pruned_of(2, 4), {});
      manifest << ln.name << ' ' << ln.d_out << ' ' << ln.d_in << '\n';
    }
    std::printf("\ninputs and outputs of q, gate, down written to %s\n", dump_dir.c_str());
  }

  // Where one linear's sweep time goes (q: d_out = d_in = hidden, U given): the whole call, then
  // its parts alone, each in the same sequence as the solver issues them.
  {
    const index_t d = hidden;
    const auto n = static_cast<std::size_t>(d * d);
    const gpu::device_upper_factor& u = factors[0];
    const auto reset = [&] {
      POLLARD_CUDA_CHECK(cudaMemcpyAsync(weights[0].data(), originals[0].data(), n * sizeof(float),
                                         cudaMemcpyDeviceToDevice));
    };
    const auto w = weights[0].view(d, d);
    std::printf("\n| one %lldx%lld linear, U given | ms |\n|---|---|\n", static_cast<long long>(d),
                static_cast<long long>(d));
    const double whole_24 = median_ms([&] {
      reset();
      gpu::sparsegpt(gpu::par, w, u, pollard::n_m::pruned_of(2, 4));
    });
    const double whole_50 = median_ms([&] {
      reset();
      gpu::sparsegpt(gpu::par, w, u, pollard::unstructured{0.5, pollard::per_column_block{128}});
    });
    gpu::device_mask flags(d, d);
    const double mask_copy = median_ms([&] { (void)flags.to_host(); });
    const double allocations = median_ms([&] {
      gpu::device_mask m(d, d);
      gpu::device_buffer<float> err(static_cast<std::size_t>(d * 128)),
          scores(static_cast<std::size_t>(d * 128));
      gpu::device_buffer<double> loss(static_cast<std::size_t>(d));
    });
    gpu::device_buffer<float> err(static_cast<std::size_t>(d * 128));
    POLLARD_CUDA_CHECK(cudaMemset(err.data(), 0, err.size() * sizeof(float)));
    cublasHandle_t blas = gpu::par.resources().cublas();
    const float minus_one = -1.0f, one = 1.0f;
    const double gemms = median_ms([&] {
      for (index_t i1 = 0; i1 + 128 < d; i1 += 128) {
        const index_t rest = d - i1 - 128;
        POLLARD_CUDA_CHECK(
            cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(rest), static_cast<int>(d),
                        128, &minus_one, u.u.data() + i1 * d + i1 + 128, static_cast<int>(d),
                        err.data(), 128, &one, weights[0].data() + i1 + 128, static_cast<int>(d)));
      }
    });
    gpu::device_buffer<double> row_loss(static_cast<std::size_t>(d));
    // The 32 in-block sweeps: N:M chosen inside (group 4), or the mask given (group 0).
    const auto sweeps_of_group = [&](index_t group) {
      return median_ms([&] {
        for (index_t i1 = 0; i1 < d; i1 += 128) {
          const gpu::detail::sweep_block_arguments a{
              weights[0].data(),   d, d, i1,    128,        u.u.data(),      d,
              flags.view().data(), d, 2, group, err.data(), row_loss.data(), 128};
          gpu::detail::launch_sweep(a, nullptr);
        }
      });
    };
    const double sweeps = sweeps_of_group(4);
    const index_t quantile_blocks = gpu::detail::quantile_grid(d);
    const auto set =
        static_cast<std::size_t>(gpu::detail::quantile_passes * gpu::detail::quantile_bins);
    gpu::device_buffer<unsigned int> histograms(2 * set);
    POLLARD_CUDA_CHECK(cudaMemset(histograms.data(), 0, histograms.size() * sizeof(unsigned)));
    gpu::device_buffer<unsigned long long> equal_counts(static_cast<std::size_t>(quantile_blocks));
    int launches = 0;
    const double selections = median_ms([&] {
      for (index_t i1 = 0; i1 < d; i1 += 128, ++launches)
        gpu::detail::launch_select_block_quantile(
            {weights[0].data(), d, d, i1, 128, u.u.data(), d, flags.view().data(), d, d * 64, false,
             histograms.data() + (launches % 2) * set,
             histograms.data() + ((launches + 1) % 2) * set, equal_counts.data()},
            quantile_blocks, nullptr);
    });
    const double sweeps_fixed = sweeps_of_group(0);
    std::printf("| sparsegpt 2:4, whole call | %.2f |\n| sparsegpt 50 %%, whole call | %.2f |\n",
                whole_24, whole_50);
    std::printf("| mask copied to the host | %.2f |\n| buffers allocated and freed | %.2f |\n",
                mask_copy, allocations);
    std::printf(
        "| lazy-update GEMMs alone | %.2f |\n| in-block sweep kernels alone (2:4) | %.2f |\n",
        gemms, sweeps);
    std::printf("| per-block selections alone (50 %%, one cooperative kernel each) | %.2f |\n",
                selections);
    std::printf("| in-block sweep kernels alone (50 %%, mask given) | %.2f |\n", sweeps_fixed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, sparsegpt_only = false, memory_only = false;
  std::string dump_dir;
  for (int k = 1; k < argc; ++k) {
    if (std::strcmp(argv[k], "--quick") == 0)
      quick = true;
    else if (std::strcmp(argv[k], "--sparsegpt-only") == 0)
      sparsegpt_only = true;
    else if (std::strcmp(argv[k], "--memory-bound-only") == 0)
      memory_only = true;
    else if (std::strcmp(argv[k], "--dump") == 0 && k + 1 < argc)
      dump_dir = argv[++k];
    else {
      std::printf("usage: %s [--quick] [--sparsegpt-only | --memory-bound-only] [--dump DIR]\n",
                  argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no usable CUDA device\n");
    return 0;
  }
  cudaDeviceProp properties{};
  POLLARD_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("device: %s, %d SMs, CUDA driver API %d, runtime %d\n", properties.name,
              properties.multiProcessorCount, driver, runtime);
  try {
    const ceilings c = measure_ceilings(quick);
    if (!sparsegpt_only) {
      metrics(c, quick);
      memory_passes(c, quick);
    }
    if (memory_only) return 0;
    if (!sparsegpt_only) statistics(c, quick);
    sparsegpt_block(c, quick, dump_dir);
  } catch (const std::exception& e) {
    std::printf("benchmark failed: %s\n", e.what());
    return 1;
  }
  return 0;
}

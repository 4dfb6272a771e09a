#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda/cpu_reference.hpp"
#include "cuda/device_data.cuh"
#include "pollard/cuda.cuh"
#include "support/naive_solvers.hpp"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

/// H = (2/tokens)·XᵀX of seeded activations with a few large channels, made on the device
/// (gram_update is tested on its own) and copied back whole.
test::dense_matrix<float> hessian(index_t d, index_t tokens, std::uint64_t seed) {
  auto x = test::random_normal<float>(tokens, d, seed);
  for (index_t i = 0; i < tokens; ++i)
    for (index_t j = 0; j < d; j += 37) x(i, j) *= 8.0f;
  const test::device_matrix<float> device_x(x);
  test::device_matrix<float> h(d, d);
  REQUIRE(cudaMemset(h.buffer.data(), 0, h.buffer.size() * sizeof(float)) == cudaSuccess);
  gpu::gram_update(gpu::par, h.view(), device_x.view(), 2.0f / static_cast<float>(tokens));
  gpu::symmetrize_from_lower(gpu::par, h.view());
  return h.to_host();
}

/// Rows and columns 9 and 10 of h replaced by the block [[a, a(1 + δ)], [a(1 + δ), a]]
/// (eigenvalues a(2 + δ) and −aδ), a = 1000 times h's largest diagonal entry, δ = 2.5·10⁻⁴: the
/// first damping (0.01·mean diag, about 1.6·10⁻⁴·a) does not cover −aδ and the second does,
/// while aδ stays below sqrt(ε_float)·a ≈ 3.45·10⁻⁴·a, the rounding tolerance under which a
/// Hessian is damped rather than refused as indefinite.
void add_pair_needing_damping(test::dense_matrix<float>& h) {
  float largest = 0.0f;
  for (index_t j = 0; j < h.rows; ++j) largest = std::max(largest, h(j, j));
  const float a = 1000.0f * largest;
  for (index_t j = 0; j < h.cols; ++j) h(9, j) = h(j, 9) = h(10, j) = h(j, 10) = 0.0f;
  h(9, 9) = h(10, 10) = a;
  h(9, 10) = h(10, 9) = a * (1.0f + 2.5e-4f);
}

/// d x d with diagonal 1 and every other entry c: eigenvalues 1 + (d − 1)·c (along the ones
/// vector) and 1 − c (d − 1 times), by hand.
test::dense_matrix<float> constant_off_diagonal(index_t d, float c) {
  test::dense_matrix<float> h(d, d);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) h(i, j) = i == j ? 1.0f : c;
  return h;
}

/// The number a refusal of an indefinite Hessian names after "smallest eigenvalue is " (NaN when
/// the message names none).
double named_eigenvalue(const std::string& message) {
  const std::string key = "smallest eigenvalue is ";
  const auto at = message.find(key);
  if (at == std::string::npos) return std::nan("");
  return std::stod(message.substr(at + key.size()));
}

/// The factorisation_error text of running f (empty when it throws none).
template <class F>
std::string factorisation_message(F&& f) {
  try {
    f();
  } catch (const factorisation_error& e) {
    return e.what();
  }
  return {};
}

struct comparison {
  index_t mask_differences = 0;
  double weight_error = 0.0;  // ‖W_gpu − W_cpu‖_F / ‖W_cpu‖_F
  double loss_error = 0.0;
};

template <class Policy>
comparison compare_with_cpu(const test::dense_matrix<float>& w, const test::dense_matrix<float>& h,
                            const Policy& policy, index_t block_size = 128) {
  auto cpu_w = w;
  sparsegpt_result cpu_result;
  if constexpr (std::is_same_v<Policy, n_m>)
    cpu_result = test::cpu::sparsegpt(cpu_w.view(), h.view(), policy, block_size);
  else
    cpu_result = test::cpu::sparsegpt(cpu_w.view(), h.view(), policy);
  const test::device_matrix<float> device_w(w);
  const test::device_matrix<float> device_h(h);
  const auto result =
      gpu::sparsegpt(gpu::par, device_w.view(), device_view<const float>(device_h.view()), policy,
                     {.block_size = block_size});
  const auto out = device_w.to_host();
  comparison c;
  c.mask_differences = test::mask_differences(result.mask, cpu_result.mask);
  double diff = 0.0, norm = 0.0;
  for (std::size_t k = 0; k < out.values.size(); ++k) {
    const double d = static_cast<double>(out.values[k]) - static_cast<double>(cpu_w.values[k]);
    diff += d * d;
    norm += static_cast<double>(cpu_w.values[k]) * static_cast<double>(cpu_w.values[k]);
  }
  c.weight_error = std::sqrt(diff / norm);
  c.loss_error = std::abs(result.loss - cpu_result.loss) / cpu_result.loss;
  // Every pruned weight is zero on the device.
  for (index_t i = 0; i < out.rows; ++i)
    for (index_t j = 0; j < out.cols; ++j)
      if (result.mask.pruned(i, j)) REQUIRE(out(i, j) == 0.0f);
  return c;
}

void check_factor_precisions(index_t n) {
  const auto h = hessian(n, 4 * n, 51);
  const test::device_matrix<float> device_h(h);
  const device_view<const float> hv = device_h.view();
  const auto f32 =
      gpu::upper_cholesky_of_inverse(gpu::par, hv, 0.01, 0, "test", gpu::factor_precision::fp32);
  const auto f64 =
      gpu::upper_cholesky_of_inverse(gpu::par, hv, 0.01, 0, "test", gpu::factor_precision::fp64);
  test::naive::dmat damped = test::naive::to_double(h);
  for (index_t j = 0; j < n; ++j) damped(j, j) += f64.damping.damping;
  const auto exact = test::naive::upper_cholesky_of_inverse(damped);
  const auto u32 = f32.u.download(), u64 = f64.u.download();
  double e32 = 0.0, e64 = 0.0, norm = 0.0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      const auto k = static_cast<std::size_t>(i * n + j);
      e32 += std::pow(static_cast<double>(u32[k]) - exact(i, j), 2);
      e64 += std::pow(static_cast<double>(u64[k]) - exact(i, j), 2);
      norm += exact(i, j) * exact(i, j);
    }
  MESSAGE("‖U − U_exact‖/‖U_exact‖: fp32 factorisation " << std::sqrt(e32 / norm) << ", fp64 "
                                                         << std::sqrt(e64 / norm));
  CHECK(std::sqrt(e64 / norm) < 1e-6);  // U rounded to float, nothing more
  CHECK(std::sqrt(e32 / norm) < 1e-4);
  CHECK(f64.damping.damping == f32.damping.damping);
  CHECK(f64.damping.retries == 0);
  CHECK(f32.precision == gpu::factor_precision::fp32);
  CHECK(f64.precision == gpu::factor_precision::fp64);

  // The default, automatic: fp64 where the device runs fp64 at least half as fast as fp32, and
  // then the same bits as the fp64 factor.
  int device = 0, ratio = 0;
  REQUIRE(cudaGetDevice(&device) == cudaSuccess);
  REQUIRE(cudaDeviceGetAttribute(&ratio, cudaDevAttrSingleToDoublePrecisionPerfRatio, device) ==
          cudaSuccess);
  const auto automatic = gpu::upper_cholesky_of_inverse(gpu::par, hv, 0.01, 0, "test");
  const auto expected = ratio <= 2 ? gpu::factor_precision::fp64 : gpu::factor_precision::fp32;
  CHECK(automatic.precision == expected);
  CHECK(automatic.u.download() == (expected == gpu::factor_precision::fp64 ? u64 : u32));
}

}  // namespace

TEST_CASE("the device factor U satisfies UᵀU = (H + λI)⁻¹ (naive fp64 inverse)") {
  const index_t n = 96;
  const auto h = hessian(n, 400, 51);
  const test::device_matrix<float> device_h(h);
  const auto factor = gpu::upper_cholesky_of_inverse(
      gpu::par, device_view<const float>(device_h.view()), 0.01, 0, "test");
  std::vector<float> host_u(static_cast<std::size_t>(n * n));
  REQUIRE(cudaMemcpy(host_u.data(), factor.u.data(), host_u.size() * sizeof(float),
                     cudaMemcpyDeviceToHost) == cudaSuccess);
  test::naive::dmat damped = test::naive::to_double(h);
  for (index_t j = 0; j < n; ++j) damped(j, j) += factor.damping.damping;
  const auto inverse = test::naive::inverse(damped);
  double worst = 0.0, scale = 0.0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      double utu = 0.0;
      for (index_t k = 0; k < n; ++k)
        utu += static_cast<double>(host_u[static_cast<std::size_t>(k * n + i)]) *
               static_cast<double>(host_u[static_cast<std::size_t>(k * n + j)]);
      worst = std::max(worst, std::abs(utu - inverse(i, j)));
      scale = std::max(scale, std::abs(inverse(i, j)));
      if (i > j) REQUIRE(host_u[static_cast<std::size_t>(i * n + j)] == 0.0f);
    }
  CHECK(worst / scale < 1e-4);
  CHECK(factor.damping.retries == 0);
  double mean_diagonal = 0.0;
  for (index_t j = 0; j < n; ++j) mean_diagonal += h(j, j);
  CHECK(factor.damping.damping == doctest::Approx(0.01 * mean_diagonal / n).epsilon(1e-6));
}

TEST_CASE("device SparseGPT equals the CPU solver: unstructured per block and N:M") {
  const index_t d_out = 160, d_in = 384;
  const auto h = hessian(d_in, 768, 52);
  const auto w = test::random_normal<float>(d_out, d_in, 53);
  for (const double s : {0.5, 0.7}) {
    const auto c = compare_with_cpu(w, h, unstructured{s, per_column_block{128}});
    MESSAGE("unstructured " << s << ": " << c.mask_differences << " mask differences, weight error "
                            << c.weight_error << ", loss error " << c.loss_error);
    CHECK(c.mask_differences <= d_out * d_in / 1000);
    CHECK(c.weight_error < (c.mask_differences == 0 ? 1e-4 : 2e-2));
    CHECK(c.loss_error < 1e-3);
  }
  for (const auto& policy : {n_m::pruned_of(2, 4), n_m::pruned_of(4, 8), n_m::pruned_of(3, 16)}) {
    const auto c = compare_with_cpu(w, h, policy);
    MESSAGE(policy.pruned() << ":" << policy.group_size() << ": " << c.mask_differences
                            << " mask differences, weight error " << c.weight_error);
    CHECK(c.mask_differences <= d_out * d_in / 1000);
    CHECK(c.weight_error < (c.mask_differences == 0 ? 1e-4 : 2e-2));
    CHECK(c.loss_error < 1e-3);
  }
  // A narrower last block (d_in = 384 in blocks of 100) and an N:M block of 64.
  const auto narrow = compare_with_cpu(w, h, unstructured{0.5, per_column_block{100}});
  CHECK(narrow.mask_differences <= d_out * d_in / 1000);
  const auto small_blocks = compare_with_cpu(w, h, n_m::pruned_of(2, 4), 64);
  CHECK(small_blocks.mask_differences <= d_out * d_in / 1000);
  CHECK(small_blocks.weight_error < (small_blocks.mask_differences == 0 ? 1e-4 : 2e-2));
  // Rows not a multiple of the 32 rows a thread block sweeps.
  const auto few_rows = test::random_normal<float>(77, d_in, 66);
  for (const auto& policy : {n_m::pruned_of(2, 4), n_m::pruned_of(5, 32)}) {
    const auto c = compare_with_cpu(few_rows, h, policy);
    CHECK(c.mask_differences <= 77 * d_in / 1000);
    CHECK(c.weight_error < (c.mask_differences == 0 ? 1e-4 : 2e-2));
  }
  const auto c = compare_with_cpu(few_rows, h, unstructured{0.6, per_column_block{128}});
  CHECK(c.mask_differences <= 77 * d_in / 1000);
  CHECK(c.weight_error < (c.mask_differences == 0 ? 1e-4 : 2e-2));
}

TEST_CASE("device SparseGPT breaks ties of the block quantile in row-major order, as the CPU") {
  // Weights on five levels: the first block's scores tie within each column, so the k-th lowest
  // key is shared by many rows across the selection's thread blocks (160 rows: 5 of them).
  const index_t d_out = 160, d_in = 384;
  const auto h = hessian(d_in, 768, 69);
  auto w = test::random_normal<float>(d_out, d_in, 70);
  for (float& v : w.values) v = 0.5f * std::round(std::clamp(v, -2.4f, 2.4f));
  const test::device_matrix<float> device_h(h);
  for (const bool reference_threshold : {false, true}) {
    CAPTURE(reference_threshold);
    for (const double s : {0.3, 0.5}) {
      CAPTURE(s);
      auto cpu_w = w;
      const unstructured policy{s, per_column_block{128}};
      const auto cpu = test::cpu::sparsegpt(cpu_w.view(), h.view(), policy, reference_threshold);
      const test::device_matrix<float> device_w(w);
      const auto result =
          gpu::sparsegpt(gpu::par, device_w.view(), device_view<const float>(device_h.view()),
                         policy, {.reference_threshold = reference_threshold});
      index_t first_block = 0, pruned_first = 0;
      for (index_t i = 0; i < d_out; ++i)
        for (index_t j = 0; j < 128; ++j) {
          first_block += result.mask.pruned(i, j) != cpu.mask.pruned(i, j) ? 1 : 0;
          pruned_first += result.mask.pruned(i, j) ? 1 : 0;
        }
      CHECK(first_block == 0);
      if (!reference_threshold) CHECK(pruned_first == static_cast<index_t>(d_out * 128 * s));
      if (reference_threshold) CHECK(pruned_first > static_cast<index_t>(d_out * 128 * s));
      CHECK(test::mask_differences(result.mask, cpu.mask) <= d_out * d_in / 1000);
    }
  }
}

TEST_CASE("a device mask given to sparsegpt keeps the mask there only, the same mask") {
  const index_t d_out = 96, d_in = 256;
  const auto h = hessian(d_in, 512, 67);
  const auto w = test::random_normal<float>(d_out, d_in, 68);
  const test::device_matrix<float> device_h(h);
  const auto factor = gpu::upper_cholesky_of_inverse(
      gpu::par, device_view<const float>(device_h.view()), 0.01, 5, "sparsegpt");
  const auto rules = {std::pair<bool, double>{true, 0.0}, std::pair<bool, double>{false, 0.5}};
  for (const auto& [n_m_rule, sparsity] : rules) {
    const test::device_matrix<float> to_host(w), on_device(w);
    sparsegpt_result a, b;
    gpu::device_mask chosen;
    if (n_m_rule) {
      a = gpu::sparsegpt(gpu::par, to_host.view(), factor, n_m::pruned_of(2, 4));
      b = gpu::sparsegpt(gpu::par, on_device.view(), factor, n_m::pruned_of(2, 4), {}, &chosen);
    } else {
      const unstructured policy{sparsity, per_column_block{128}};
      a = gpu::sparsegpt(gpu::par, to_host.view(), factor, policy);
      b = gpu::sparsegpt(gpu::par, on_device.view(), factor, policy, {}, &chosen);
    }
    CHECK(b.mask.rows() == 0);
    CHECK(chosen.to_host() == a.mask);
    CHECK(a.loss == b.loss);
    CHECK(to_host.to_host().values == on_device.to_host().values);
  }
}

TEST_CASE("one device factor serves every linear that shares the input (q, k, v)") {
  const index_t d = 256;
  const auto h = hessian(d, 512, 54);
  const test::device_matrix<float> device_h(h);
  const auto factor = gpu::upper_cholesky_of_inverse(
      gpu::par, device_view<const float>(device_h.view()), 0.01, 5, "sparsegpt");
  for (std::uint64_t seed : {55u, 56u, 57u}) {
    const auto w = test::random_normal<float>(192, d, seed);
    const test::device_matrix<float> shared(w), own(w);
    const auto a = gpu::sparsegpt(gpu::par, shared.view(), factor, n_m::pruned_of(2, 4));
    const auto b = gpu::sparsegpt(gpu::par, own.view(), device_view<const float>(device_h.view()),
                                  n_m::pruned_of(2, 4));
    CHECK(a.mask == b.mask);
    CHECK(shared.to_host().values == own.to_host().values);
  }
}

TEST_CASE(
    "device SparseGPT reports damping retries, dead inputs and bad Hessians as the CPU does") {
  const index_t d = 128;
  auto h = hessian(d, 64, 58);                               // 64 tokens: rank-deficient
  for (index_t j = 0; j < d; ++j) h(5, j) = h(j, 5) = 0.0f;  // a dead input channel
  add_pair_needing_damping(h);
  const auto w = test::random_normal<float>(64, d, 59);
  auto cpu_w = w;
  const auto cpu_result = test::cpu::sparsegpt(cpu_w.view(), h.view(), n_m::pruned_of(2, 4), 128);
  const test::device_matrix<float> device_w(w);
  const test::device_matrix<float> device_h(h);
  const auto result = gpu::sparsegpt(
      gpu::par, device_w.view(), device_view<const float>(device_h.view()), n_m::pruned_of(2, 4));
  CHECK(result.damping_retries == cpu_result.damping_retries);
  CHECK(result.damping_retries > 0);
  CHECK(result.percdamp_used == doctest::Approx(cpu_result.percdamp_used));
  CHECK(result.warnings == cpu_result.warnings);
  for (index_t i = 0; i < 64; ++i) CHECK(result.mask.pruned(i, 5));

  // A negative diagonal is no XᵀX: refused with the CPU's message, never damped by a negative λ.
  auto negative = hessian(d, 512, 61);
  negative(7, 7) = -2.0f;
  std::string negative_message;
  try {
    auto copy = w;
    test::cpu::sparsegpt(copy.view(), negative.view(), n_m::pruned_of(2, 4), 128);
  } catch (const factorisation_error& e) {
    negative_message = e.what();
  }
  CHECK(negative_message.find("not positive semidefinite: H(7, 7) = -2 < 0") != std::string::npos);
  const test::device_matrix<float> device_negative(negative);
  const test::device_matrix<float> kept(w);
  CHECK_THROWS_WITH_AS(
      gpu::sparsegpt(gpu::par, kept.view(), device_view<const float>(device_negative.view()),
                     n_m::pruned_of(2, 4)),
      negative_message.c_str(), factorisation_error);
  CHECK(kept.to_host().values == w.values);

  // One triangle only: refused with the CPU's message, before W is touched.
  auto lower = hessian(d, 512, 60);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = i + 1; j < d; ++j) lower(i, j) = 0.0f;
  std::string cpu_message;
  try {
    auto copy = w;
    test::cpu::sparsegpt(copy.view(), lower.view(), n_m::pruned_of(2, 4), 128);
  } catch (const option_error& e) {
    cpu_message = e.what();
  }
  const test::device_matrix<float> device_lower(lower);
  const test::device_matrix<float> untouched(w);
  CHECK_THROWS_WITH_AS(
      gpu::sparsegpt(gpu::par, untouched.view(), device_view<const float>(device_lower.view()),
                     n_m::pruned_of(2, 4)),
      cpu_message.c_str(), option_error);
  CHECK(untouched.to_host().values == w.values);
  CHECK_THROWS_AS(gpu::sparsegpt(gpu::par, untouched.view(),
                                 device_view<const float>(device_lower.view()), unstructured{0.5}),
                  option_error);
}

TEST_CASE(
    "device SparseGPT refuses an indefinite Hessian as the CPU does, naming its smallest "
    "eigenvalue") {
  // Diagonal 1, off-diagonal 1.05: eigenvalue 1 − 1.05 = −0.05 (15 times; −0.04999995 with
  // float's 1.05) and 16.75, by hand; τ = sqrt(ε_float) · 1 ≈ 3.45·10⁻⁴. percdamp 0.01 fails,
  // H + τI fails: refused, where retries would have damped it to percdamp 0.1 and factored it.
  const index_t d = 16;
  const auto h = constant_off_diagonal(d, 1.05f);
  const auto w = test::random_normal<float>(8, d, 71);
  const std::string cpu_message = factorisation_message([&] {
    auto copy = w;
    test::cpu::sparsegpt(copy.view(), h.view(), n_m::pruned_of(2, 4), 128);
  });
  CHECK(cpu_message.starts_with(
      "sparsegpt: the 16x16 Hessian is not positive semidefinite: its smallest eigenvalue is "
      "-0.05 (below -0.000345267, sqrt(epsilon) times its largest diagonal entry)"));
  CHECK(named_eigenvalue(cpu_message) == doctest::Approx(-0.05).epsilon(1e-5));
  const test::device_matrix<float> device_h(h);
  const device_view<const float> hv = device_h.view();
  for (const auto precision : {gpu::factor_precision::fp32, gpu::factor_precision::fp64}) {
    CAPTURE(static_cast<int>(precision));
    const test::device_matrix<float> device_w(w);
    const std::string message = factorisation_message([&] {
      gpu::sparsegpt(gpu::par, device_w.view(), hv, n_m::pruned_of(2, 4), {}, precision);
    });
    CHECK(message == cpu_message);
    CHECK(named_eigenvalue(message) == doctest::Approx(-0.05).epsilon(1e-5));
    CHECK(device_w.to_host().values == w.values);
    // The factorisation alone, no retries allowed: the refusal comes first, as on the CPU.
    CHECK(factorisation_message([&] {
            gpu::upper_cholesky_of_inverse(gpu::par, hv, 0.01, 0, "sparsegpt", precision);
          }) == cpu_message);
  }

  // An order where syevd does real work: a full-rank 2·XᵀX/N (d = 200) whose rows and columns
  // 30 and 31 are replaced by the block a·[[1, 1.05], [1.05, 1]], a its largest diagonal entry:
  // the block is decoupled, so the smallest eigenvalue is the block's a − 1.05·a = −0.05·a, by
  // hand (the rest is positive definite).
  const index_t n = 200;
  auto big = hessian(n, 800, 72);
  float a = 0.0f;
  for (index_t j = 0; j < n; ++j) a = std::max(a, big(j, j));
  for (index_t j = 0; j < n; ++j) big(30, j) = big(j, 30) = big(31, j) = big(j, 31) = 0.0f;
  big(30, 30) = big(31, 31) = a;
  big(30, 31) = big(31, 30) = 1.05f * a;
  const auto big_w = test::random_normal<float>(16, n, 73);
  const std::string big_cpu_message = factorisation_message([&] {
    auto copy = big_w;
    test::cpu::sparsegpt(copy.view(), big.view(), n_m::pruned_of(2, 4), 128);
  });
  CHECK(named_eigenvalue(big_cpu_message) ==
        doctest::Approx(-0.05 * static_cast<double>(a)).epsilon(1e-5));
  const test::device_matrix<float> device_big(big);
  for (const auto precision : {gpu::factor_precision::fp32, gpu::factor_precision::fp64}) {
    CAPTURE(static_cast<int>(precision));
    const test::device_matrix<float> device_w(big_w);
    const std::string message = factorisation_message([&] {
      gpu::sparsegpt(gpu::par, device_w.view(), device_view<const float>(device_big.view()),
                     n_m::pruned_of(2, 4), {}, precision);
    });
    CHECK(message == big_cpu_message);
    CHECK(named_eigenvalue(message) ==
          doctest::Approx(-0.05 * static_cast<double>(a)).epsilon(1e-5));
    CHECK(device_w.to_host().values == big_w.values);
  }
}

TEST_CASE("a device Hessian singular up to rounding still gets the CPU's damping retries") {
  // Diagonal 1, off-diagonal 1.0002: eigenvalue −2·10⁻⁴ (15 times) and 16.0030, by hand; −2·10⁻⁴
  // is above −τ ≈ −3.45·10⁻⁴, so it is rounding-sized: percdamp 10⁻⁵ and 10⁻⁴ fail, 10⁻³ (mean
  // diagonal 1) factors after two retries, in either precision.
  const index_t d = 16;
  const auto h = constant_off_diagonal(d, 1.0002f);
  const auto w = test::random_normal<float>(8, d, 74);
  const sparsegpt_options options{.percdamp = 1e-5};
  auto cpu_w = w;
  const auto cpu_result =
      test::cpu::sparsegpt(cpu_w.view(), h.view(), n_m::pruned_of(2, 4), options);
  CHECK(cpu_result.damping_retries == 2);
  CHECK(cpu_result.percdamp_used == doctest::Approx(1e-3));
  const test::device_matrix<float> device_h(h);
  const device_view<const float> hv = device_h.view();
  for (const auto precision : {gpu::factor_precision::fp32, gpu::factor_precision::fp64}) {
    CAPTURE(static_cast<int>(precision));
    const test::device_matrix<float> device_w(w);
    const auto result =
        gpu::sparsegpt(gpu::par, device_w.view(), hv, n_m::pruned_of(2, 4), options, precision);
    CHECK(result.damping_retries == cpu_result.damping_retries);
    CHECK(result.percdamp_used == doctest::Approx(cpu_result.percdamp_used));
    CHECK(result.damping_used == doctest::Approx(cpu_result.damping_used));
    CHECK(result.warnings == cpu_result.warnings);
    const auto factor = gpu::upper_cholesky_of_inverse(gpu::par, hv, 1e-5, 5, "test", precision);
    CHECK(factor.damping.retries == 2);
    CHECK(factor.damping.percdamp == doctest::Approx(1e-3));
  }
}

TEST_CASE("the fp64 factorisation gives the same U to float rounding, the same damping report") {
  // Up to 64: one diagonal block inverted by forward substitution; above: blocks of 64 joined
  // pairwise by dense products, the last one narrower unless 64 divides n; at 1100 the last join
  // (1024 + 76) runs its first product in two chunks of 512 columns.
  for (const index_t n : {index_t{1}, index_t{63}, index_t{64}, index_t{65}, index_t{96},
                          index_t{130}, index_t{1100}}) {
    CAPTURE(n);
    check_factor_precisions(n);
  }

  // Retries and warnings as the CPU's on a rank-deficient Hessian that needs more damping.
  const index_t d = 128;
  auto bad = hessian(d, 64, 58);
  add_pair_needing_damping(bad);
  const auto w = test::random_normal<float>(64, d, 59);
  auto cpu_w = w;
  const auto cpu_result = test::cpu::sparsegpt(cpu_w.view(), bad.view(), n_m::pruned_of(2, 4), 128);
  const test::device_matrix<float> device_w(w), device_bad(bad);
  const auto result =
      gpu::sparsegpt(gpu::par, device_w.view(), device_view<const float>(device_bad.view()),
                     n_m::pruned_of(2, 4), {}, gpu::factor_precision::fp64);
  CHECK(result.damping_retries == cpu_result.damping_retries);
  CHECK(result.damping_retries > 0);
  CHECK(result.warnings == cpu_result.warnings);
  CHECK(test::mask_differences(result.mask, cpu_result.mask) <= 64 * d / 1000);
}

TEST_CASE("device OBS reconstruction with a given mask equals the CPU's and the naive sweep") {
  const index_t d_out = 96, d_in = 320;
  auto h = hessian(d_in, 640, 63);
  for (index_t j = 0; j < d_in; ++j) h(7, j) = h(j, 7) = 0.0f;  // a dead input channel
  const auto w = test::random_normal<float>(d_out, d_in, 64);
  mask pruned(d_out, d_in);
  std::mt19937_64 rng(65);
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      if (rng() % 2 == 0) pruned.prune(i, j);
  for (index_t i = 0; i < d_out; ++i) pruned.keep(i, 7);  // dead, kept: zeroed and marked

  auto cpu_w = w;
  const auto cpu_result = test::cpu::obs_reconstruct(cpu_w.view(), h.view(), pruned);
  const auto naive = test::naive::sparsegpt_unbatched(
      test::naive::to_double(w), test::naive::to_double(h), test::naive::selection::fixed, 0.0, 0,
      0, 128, 0.01, &pruned);
  const test::device_matrix<float> device_h(h);
  for (const auto precision : {gpu::factor_precision::fp32, gpu::factor_precision::fp64}) {
    for (const index_t block : {index_t{128}, index_t{48}}) {
      const test::device_matrix<float> device_w(w);
      const auto result =
          gpu::obs_reconstruct(gpu::par, device_w.view(), device_view<const float>(device_h.view()),
                               pruned, {.block_size = block}, precision);
      const auto out = device_w.to_host();
      CHECK(result.mask == cpu_result.mask);
      CHECK(result.warnings == cpu_result.warnings);
      double diff_cpu = 0.0, diff_naive = 0.0, norm = 0.0;
      for (index_t i = 0; i < d_out; ++i)
        for (index_t j = 0; j < d_in; ++j) {
          const double v = out(i, j);
          if (result.mask.pruned(i, j)) REQUIRE(v == 0.0);
          diff_cpu += std::pow(v - static_cast<double>(cpu_w(i, j)), 2);
          diff_naive += std::pow(v - naive.w(i, j), 2);
          norm += naive.w(i, j) * naive.w(i, j);
        }
      MESSAGE("obs_reconstruct, block " << block << ": ‖ΔW‖/‖W‖ against the CPU "
                                        << std::sqrt(diff_cpu / norm) << ", the naive sweep "
                                        << std::sqrt(diff_naive / norm));
      CHECK(std::sqrt(diff_cpu / norm) < 1e-4);
      CHECK(std::sqrt(diff_naive / norm) < 1e-4);
      CHECK(std::abs(result.loss - cpu_result.loss) < 1e-4 * cpu_result.loss);
    }
  }
  const test::device_matrix<float> untouched(w);
  CHECK_THROWS_AS(gpu::obs_reconstruct(gpu::par, untouched.view(),
                                       device_view<const float>(device_h.view()), mask(d_out, 8)),
                  shape_error);
  CHECK(untouched.to_host().values == w.values);
}

TEST_CASE("device SparseGPT on a LLaMA-7B shape (4096 x 4096) equals the CPU solver") {
  const index_t d = 4096;
  const auto h = hessian(d, 8192, 61);
  const auto w = test::random_normal<float>(d, d, 62);
  const auto c = compare_with_cpu(w, h, n_m::pruned_of(2, 4));
  MESSAGE("4096 x 4096, 2:4: " << c.mask_differences << " mask differences, weight error "
                               << c.weight_error << ", loss error " << c.loss_error);
  CHECK(c.mask_differences <= d * d / 1000);
  CHECK(c.loss_error < 1e-3);
  const auto u = compare_with_cpu(w, h, unstructured{0.5, per_column_block{128}});
  MESSAGE("4096 x 4096, 50 %: " << u.mask_differences << " mask differences, weight error "
                                << u.weight_error << ", loss error " << u.loss_error);
  CHECK(u.mask_differences <= d * d / 1000);
  CHECK(u.loss_error < 1e-3);
}

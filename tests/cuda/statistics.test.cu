#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/device_data.cuh"
#include "pollard/cuda.cuh"
#include "pollard/stats/moment_statistics.hpp"
#include "support/naive_stats.hpp"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

double relative_difference(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-300);
}

/// ‖a − b‖_F / ‖b‖_F over the lower triangles of two row-major d x d matrices.
double lower_relative_error(const std::vector<float>& a, const std::vector<double>& b, index_t d) {
  double diff = 0.0, norm = 0.0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j <= i; ++j) {
      const auto k = static_cast<std::size_t>(i * d + j);
      diff += (static_cast<double>(a[k]) - b[k]) * (static_cast<double>(a[k]) - b[k]);
      norm += b[k] * b[k];
    }
  return std::sqrt(diff / norm);
}

}  // namespace

TEST_CASE("column moments on the device equal the naive double-precision moments") {
  // An offset of 1000 with unit spread: a one-pass Σx² formula would lose the variance.
  auto x = test::random_normal<float>(1000, 70, 21);
  for (auto& v : x.values) v += 1000.0f;
  const test::device_matrix<float> device(x);
  const auto moments = gpu::moments_of_columns<double>(gpu::par, device.view());
  const auto sums = test::naive_column_sums(x.view());
  const auto squares = test::naive_column_sum_squares(x.view());
  const auto variances = test::naive_column_variances(x.view());
  REQUIRE(moments.tokens == 1000);
  for (std::size_t j = 0; j < 70; ++j) {
    CHECK(relative_difference(moments.sum[j], sums[j]) < 1e-13);
    CHECK(relative_difference(moments.sum_squares[j], squares[j]) < 1e-13);
    CHECK(relative_difference(moments.mean[j], sums[j] / 1000.0) < 1e-13);
    CHECK(relative_difference(moments.m2[j] / 1000.0, variances[j]) < 1e-9);
  }

  // The same batch seen through a transposed (column-major) view, and in float accumulators.
  test::dense_matrix<float> transposed(70, 1000);
  for (index_t i = 0; i < 1000; ++i)
    for (index_t j = 0; j < 70; ++j) transposed(j, i) = x(i, j);
  const test::device_matrix<float> device_t(transposed);
  const auto from_columns = gpu::moments_of_columns<double>(gpu::par, device_t.view().transposed());
  const auto in_float = gpu::moments_of_columns<float>(gpu::par, device.view());
  for (std::size_t j = 0; j < 70; ++j) {
    CHECK(relative_difference(from_columns.sum[j], sums[j]) < 1e-13);
    CHECK(relative_difference(from_columns.m2[j] / 1000.0, variances[j]) < 1e-9);
    CHECK(relative_difference(in_float.mean[j], sums[j] / 1000.0) < 1e-6);
    CHECK(relative_difference(in_float.m2[j] / 1000.0f, variances[j]) < 1e-3);
  }
}

TEST_CASE("column moments over many tiles and chunks: naive moments, the same bits every call") {
  // 1024 columns (vectorised: 8 tiles of 128; bfloat16: 4 of 256) over 3001 rows (47 chunks):
  // each tile's last block combines its chunks, and the counters it uses start from zero again
  // on the next call and the next batch.
  const index_t rows = 3001, cols = 1024;
  auto x = test::random_normal<float>(rows, cols, 25);
  for (auto& v : x.values) v = 3.0f * v - 50.0f;
  test::dense_matrix<bfloat16> xb(rows, cols);
  for (std::size_t k = 0; k < x.values.size(); ++k) xb.values[k] = bfloat16(x.values[k]);
  const test::device_matrix<float> device(x);
  const test::device_matrix<bfloat16> device_b(xb);
  const auto first = gpu::moments_of_columns<double>(gpu::par, device.view());
  const auto again = gpu::moments_of_columns<double>(gpu::par, device.view());
  const auto sums = test::naive_column_sums(x.view());
  const auto variances = test::naive_column_variances(x.view());
  const auto in_bf16 = gpu::moments_of_columns<double>(gpu::par, device_b.view());
  const auto sums_b = test::naive_column_sums(xb.view());
  const auto variances_b = test::naive_column_variances(xb.view());
  gpu::device_moment_statistics<double> stats(gpu::par, cols);
  for (int b = 0; b < 3; ++b) stats.accumulate(gpu::par, device.view());
  const auto thrice = stats.result(gpu::par);
  for (std::size_t j = 0; j < static_cast<std::size_t>(cols); ++j) {
    CHECK(relative_difference(first.sum[j], sums[j]) < 1e-12);
    CHECK(relative_difference(first.m2[j] / rows, variances[j]) < 1e-10);
    CHECK(first.sum[j] == again.sum[j]);
    CHECK(first.m2[j] == again.m2[j]);
    CHECK(relative_difference(in_bf16.sum[j], sums_b[j]) < 1e-12);
    CHECK(relative_difference(in_bf16.m2[j] / rows, variances_b[j]) < 1e-10);
    CHECK(relative_difference(thrice.sum[j], 3.0 * sums[j]) < 1e-12);
    CHECK(relative_difference(thrice.mean[j], sums[j] / rows) < 1e-12);
    CHECK(relative_difference(thrice.m2[j] / (3.0 * rows), variances[j]) < 1e-10);
  }
}

TEST_CASE("column moments of bfloat16 activations equal the naive moments of the same values") {
  const auto source = test::random_normal<float>(513, 33, 22);
  test::dense_matrix<bfloat16> x(513, 33);
  for (std::size_t k = 0; k < x.values.size(); ++k) x.values[k] = bfloat16(source.values[k]);
  const test::device_matrix<bfloat16> device(x);
  const auto moments = gpu::moments_of_columns<double>(gpu::par, device.view());
  const auto sums = test::naive_column_sums(x.view());
  const auto variances = test::naive_column_variances(x.view());
  for (std::size_t j = 0; j < 33; ++j) {
    CHECK(std::abs(moments.sum[j] - sums[j]) < 1e-10);
    CHECK(relative_difference(moments.m2[j] / 513.0, variances[j]) < 1e-10);
  }
}

TEST_CASE("column moments name the first non-finite activation as moment_statistics does") {
  auto x = test::random_normal<float>(50, 20, 23);
  x(31, 4) = std::numeric_limits<float>::quiet_NaN();
  const test::device_matrix<float> device(x);
  std::string host_message, device_message;
  try {
    moment_statistics<double> stats(20);
    stats.accumulate(x.view());
  } catch (const non_finite_error& e) {
    host_message = e.what();
  }
  try {
    gpu::moments_of_columns<double>(gpu::par, device.view());
  } catch (const non_finite_error& e) {
    device_message = e.what();
  }
  CHECK(!host_message.empty());
  CHECK(device_message == host_message);
}

TEST_CASE("moments accumulated over device batches equal the naive moments of all the batches") {
  // Three batches (one of a single row, one through a column-major view) whose union has an
  // offset of 1000 with unit spread; the naive moments are those of the stacked batches.
  const std::vector<index_t> rows{300, 1, 777};
  test::dense_matrix<float> all(1078, 70);
  std::vector<test::dense_matrix<float>> batches;
  index_t r0 = 0;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    auto x = test::random_normal<float>(rows[b], 70, 40 + static_cast<int>(b));
    for (auto& v : x.values) v += 1000.0f;
    for (index_t i = 0; i < rows[b]; ++i)
      for (index_t j = 0; j < 70; ++j) all(r0 + i, j) = x(i, j);
    r0 += rows[b];
    batches.push_back(std::move(x));
  }
  test::dense_matrix<float> last_t(70, 777);
  for (index_t i = 0; i < 777; ++i)
    for (index_t j = 0; j < 70; ++j) last_t(j, i) = batches[2](i, j);
  const test::device_matrix<float> first(batches[0]), second(batches[1]), third_t(last_t);
  const test::device_matrix<float> empty(0, 70);

  gpu::device_moment_statistics<double> stats(gpu::par, 70);
  stats.accumulate(gpu::par, first.view(), 2);
  stats.accumulate(gpu::par, second.view(), 0);
  stats.accumulate(gpu::par, empty.view(), 0);
  stats.accumulate(gpu::par, third_t.view().transposed());
  const auto moments = stats.result(gpu::par);
  CHECK(stats.tokens() == 1078);
  CHECK(stats.sequences() == 3);
  REQUIRE(moments.tokens == 1078);
  const auto sums = test::naive_column_sums(all.view());
  const auto squares = test::naive_column_sum_squares(all.view());
  const auto variances = test::naive_column_variances(all.view());
  for (std::size_t j = 0; j < 70; ++j) {
    CHECK(relative_difference(moments.sum[j], sums[j]) < 1e-13);
    CHECK(relative_difference(moments.sum_squares[j], squares[j]) < 1e-13);
    CHECK(relative_difference(moments.mean[j], sums[j] / 1078.0) < 1e-13);
    CHECK(relative_difference(moments.m2[j] / 1078.0, variances[j]) < 1e-9);
  }
  // result() leaves the statistics as they are: more batches can follow.
  stats.accumulate(gpu::par, first.view());
  CHECK(stats.result(gpu::par).tokens == 1378);
}

TEST_CASE("device moment statistics refuse a NaN or infinity at the result, returning no moments") {
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
    auto clean = test::random_normal<float>(40, 20, 24);
    auto x = test::random_normal<float>(50, 20, 23);
    x(31, 4) = bad;
    x(35, 2) = bad;  // a later one: the first in row-major order is named
    std::string host_message;
    try {
      moment_statistics<double> host(20);
      host.accumulate(x.view());
    } catch (const non_finite_error& e) {
      host_message = e.what();
    }
    REQUIRE(!host_message.empty());
    const test::device_matrix<float> device_clean(clean), device_bad(x);
    gpu::device_moment_statistics<double> stats(gpu::par, 20);
    stats.accumulate(gpu::par, device_clean.view());
    stats.accumulate(gpu::par, device_bad.view());
    stats.accumulate(gpu::par, device_clean.view());
    for (int call = 0; call < 2; ++call) {
      std::string message;
      try {
        (void)stats.result(gpu::par);
      } catch (const non_finite_error& e) {
        message = e.what();
      }
      CHECK(message.rfind(host_message, 0) == 0);  // moment_statistics' message first
      CHECK(message.find("in batch 2 of 3") != std::string::npos);
    }
  }
}

TEST_CASE("device moment statistics check shapes and counts before queuing anything") {
  CHECK_THROWS_AS(gpu::device_moment_statistics<double>(gpu::par, -1), shape_error);
  gpu::device_moment_statistics<float> stats(gpu::par, 8);
  const test::device_matrix<float> wide(4, 9);
  CHECK_THROWS_WITH_AS(stats.accumulate(gpu::par, wide.view()),
                       "device_moment_statistics: batch is 4x9 but the statistics have 8 channels",
                       shape_error);
  const test::device_matrix<float> x(4, 8);
  CHECK_THROWS_AS(stats.accumulate(gpu::par, x.view(), -1), option_error);
  CHECK(stats.tokens() == 0);
  const auto none = stats.result(gpu::par);
  CHECK(none.tokens == 0);
  CHECK(none.sum == std::vector<float>(8, 0.0f));
}

TEST_CASE("fp32 and fp64 Gram updates add alpha XᵀX to the lower triangle only") {
  const index_t tokens = 700, d = 190;
  const auto x = test::random_normal<float>(tokens, d, 24);
  const auto reference = test::naive_gram(x.view(), static_cast<double>(tokens));
  const float poison = 12345.0f;

  test::dense_matrix<float> start(d, d);
  for (auto& v : start.values) v = poison;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j <= i; ++j) start(i, j) = 0.0f;
  const test::device_matrix<float> h(start);
  const test::device_matrix<float> device_x(x);
  // Two batches of the same tokens at half the weight each: the update accumulates.
  const float alpha = 1.0f / static_cast<float>(tokens);
  gpu::gram_update(gpu::par, h.view(), device_x.view(), alpha);
  gpu::gram_update(gpu::par, h.view(), device_x.view(), alpha);
  const auto out = h.to_host();
  CHECK(lower_relative_error(out.values, reference, d) < 1e-6);
  index_t untouched = 0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = i + 1; j < d; ++j) untouched += out(i, j) == poison ? 1 : 0;
  CHECK(untouched == d * (d - 1) / 2);

  // fp64, with X column-major (a transposed view) and H column-major.
  test::dense_matrix<double> xt(d, tokens);
  for (index_t i = 0; i < tokens; ++i)
    for (index_t j = 0; j < d; ++j) xt(j, i) = static_cast<double>(x(i, j));
  const test::device_matrix<double> device_xt(xt);
  test::dense_matrix<double> zero(d, d);
  const test::device_matrix<double> h64(zero);
  gpu::gram_update(gpu::par, h64.view().transposed(), device_xt.view().transposed(),
                   2.0 / static_cast<double>(tokens));
  const auto out64 = h64.to_host();  // row-major storage of the column-major H
  double worst = 0.0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j <= i; ++j)
      worst =
          std::max(worst, std::abs(out64(j, i) - reference[static_cast<std::size_t>(i * d + j)]));
  CHECK(worst < 1e-12);

  gpu::symmetrize_from_lower(gpu::par, h.view());
  const auto full = h.to_host();
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < i; ++j) REQUIRE(full(j, i) == full(i, j));
  CHECK_THROWS_AS(
      gpu::gram_update(gpu::par, h.view(), device_x.view().block(0, 0, tokens, d - 1), alpha),
      shape_error);
}

TEST_CASE("bf16 Gram update on tensor cores stays within fp32 accumulation error") {
  // LLaMA-like activations (some channels 20x larger): d = 512 channels, 2048 tokens.
  const index_t tokens = 2048, d = 512;
  auto x = test::random_normal<float>(tokens, d, 25);
  for (index_t i = 0; i < tokens; ++i)
    for (index_t j = 0; j < d; j += 97) x(i, j) *= 20.0f;
  test::dense_matrix<bfloat16> xb(tokens, d);
  test::dense_matrix<float> rounded(tokens, d);
  for (std::size_t k = 0; k < x.values.size(); ++k) {
    xb.values[k] = bfloat16(x.values[k]);
    rounded.values[k] = static_cast<float>(xb.values[k]);
  }
  const auto reference_rounded = test::naive_gram(rounded.view(), static_cast<double>(tokens));
  const auto reference_fp32 = test::naive_gram(x.view(), static_cast<double>(tokens));

  test::dense_matrix<float> zero(d, d);
  const test::device_matrix<float> h(zero);
  const test::device_matrix<bfloat16> device_x(xb);
  gpu::gram_update(gpu::par, h.view(), device_x.view(), 2.0f / static_cast<float>(tokens));
  const auto out = h.to_host();
  const double accumulation_error = lower_relative_error(out.values, reference_rounded, d);
  const double input_error = lower_relative_error(out.values, reference_fp32, d);
  MESSAGE("bf16 Gram, d = 512, 2048 tokens: relative Frobenius error "
          << accumulation_error << " against fp64 on the same bf16 inputs, " << input_error
          << " against fp64 on the fp32 inputs");
  // fp32 accumulation over 2048 products: about sqrt(2048)·2⁻²⁴ ≈ 3·10⁻⁶, stated as 5·10⁻⁵.
  CHECK(accumulation_error < 5e-5);
  CHECK(input_error < 5e-3);  // bf16 rounding of the inputs (8 significant bits)

  // The same with fp16 inputs.
  test::dense_matrix<pollard::half> xh(tokens, d);
  for (std::size_t k = 0; k < x.values.size(); ++k) {
    xh.values[k] = pollard::half(x.values[k]);
    rounded.values[k] = static_cast<float>(xh.values[k]);
  }
  const auto reference_half = test::naive_gram(rounded.view(), static_cast<double>(tokens));
  const test::device_matrix<float> h16(zero);
  const test::device_matrix<pollard::half> device_xh(xh);
  gpu::gram_update(gpu::par, h16.view(), device_xh.view(), 2.0f / static_cast<float>(tokens));
  const double half_error = lower_relative_error(h16.to_host().values, reference_half, d);
  MESSAGE("fp16 Gram: relative Frobenius error " << half_error
                                                 << " against fp64 on the same fp16 inputs");
  CHECK(half_error < 5e-5);
}

TEST_CASE("fp32 Gram updates wider than one panel (d > 2048) equal the naive Gram") {
  const index_t tokens = 96, d = 2100;
  const auto x = test::random_normal<float>(tokens, d, 26);
  const auto reference = test::naive_gram(x.view(), static_cast<double>(tokens));
  const test::device_matrix<float> device_x(x);
  test::dense_matrix<float> zero(d, d);
  // Row-major H from row-major X, and column-major H from column-major X.
  const test::device_matrix<float> h(zero);
  gpu::gram_update(gpu::par, h.view(), device_x.view(), 2.0f / static_cast<float>(tokens));
  CHECK(lower_relative_error(h.to_host().values, reference, d) < 1e-6);
  test::dense_matrix<float> xt(d, tokens);
  for (index_t i = 0; i < tokens; ++i)
    for (index_t j = 0; j < d; ++j) xt(j, i) = x(i, j);
  const test::device_matrix<float> device_xt(xt);
  const test::device_matrix<float> hc(zero);
  gpu::gram_update(gpu::par, hc.view().transposed(), device_xt.view().transposed(),
                   2.0f / static_cast<float>(tokens));
  const auto out = hc.to_host();  // row-major storage of the column-major H
  std::vector<float> lower(out.values.size());
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j <= i; ++j) lower[static_cast<std::size_t>(i * d + j)] = out(j, i);
  CHECK(lower_relative_error(lower, reference, d) < 1e-6);
  // The upper triangle stays untouched (zero) in both.
  const auto row_major = h.to_host();
  index_t touched = 0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = i + 1; j < d; ++j) touched += row_major(i, j) != 0.0f || out(j, i) != 0.0f;
  CHECK(touched == 0);
}

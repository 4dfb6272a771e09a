// pollard — the CUDA backend's lowest-k selection: in every comparison group of a device score
// matrix, prune the k lowest in (score, row-major position in the group) order, as a stable
// ascending sort ranks them (the CPU backend's order); radix selection on 8-bit digits, no sort.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/select_lowest.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>
#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/resident_blocks.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda::detail {

/// Unsigned keys whose integer order is the numeric order, with -0 == +0 (the CPU backend's).
/// (Negative values: every bit flipped; others: the sign bit set.)
__device__ inline std::uint32_t ordered_key(float value) {
  const std::uint32_t bits = __float_as_uint(value + 0.0f);
  return bits ^ (static_cast<std::uint32_t>(static_cast<std::int32_t>(bits) >> 31) | 0x80000000u);
}
__device__ inline std::uint64_t ordered_key(double value) {
  const auto bits = static_cast<std::uint64_t>(__double_as_longlong(value + 0.0));
  return bits ^ (static_cast<std::uint64_t>(static_cast<std::int64_t>(bits) >> 63) |
                 0x8000000000000000ull);
}

/// Whether an ordered key is that of a NaN or -inf score: -inf's key is 0x007fffff (float),
/// negative NaNs lie below it and positive NaNs above +inf's 0xff800000; one subtraction maps
/// exactly those above every rankable key's image.
__device__ inline bool unrankable_key(std::uint32_t key) { return key - 0x00800000u > 0xff000000u; }
__device__ inline bool unrankable_key(std::uint64_t key) {
  return key - 0x0010000000000000ull > 0xffe0000000000000ull;
}

template <class T>
using key_t =
    std::conditional_t<std::is_same_v<std::remove_cv_t<T>, double>, std::uint64_t, std::uint32_t>;

/// The state of one comparison group during the selection.
struct selection_group {
  unsigned long long prefix;  // the key bits of the k-th lowest entry decided so far
  long long take;             // how many entries with that prefix are still to be pruned
  int mode;                   // 0: prune none, 1: prune all, 2: select
};

/// The layout of the groups: a group is `group_rows` rows of a block of `width` columns; a
/// segment is one row of one group (row i, column block cb), numbered i * column_blocks + cb.
struct group_layout {
  index_t rows, cols, group_rows, width, column_blocks;

  __host__ __device__ index_t group_of(index_t i, index_t cb) const {
    return (i / group_rows) * column_blocks + cb;
  }
  __host__ __device__ index_t groups() const {
    return ((rows + group_rows - 1) / group_rows) * column_blocks;
  }
};

/// Histogram of the digit at `shift` of the keys that match their group's prefix above it.
template <class T>
__global__ void digit_histogram(matrix_view<const T, device_space> scores, group_layout layout,
                                const selection_group* groups, int shift,
                                unsigned long long* histograms) {
  using Key = key_t<T>;
  __shared__ unsigned int counts[256];
  const index_t segment = blockIdx.x;
  const index_t i = segment / layout.column_blocks, cb = segment % layout.column_blocks;
  const index_t g = layout.group_of(i, cb);
  const selection_group state = groups[g];
  if (state.mode != 2) return;
  for (unsigned b = threadIdx.x; b < 256; b += blockDim.x) counts[b] = 0;
  __syncthreads();
  const index_t c0 = cb * layout.width, c1 = std::min(layout.cols, c0 + layout.width);
  const int above = shift + 8;
  const bool top = above >= static_cast<int>(sizeof(Key) * 8);
  for (index_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) {
    const Key key = ordered_key(to_compute<compute_type_for<T>>(scores(i, j)));
    const bool counted = top || (key >> above) == static_cast<Key>(state.prefix >> above);
    // Lanes with the same bucket add once through their leader: scores bunch into few top
    // buckets (the exponent), and one atomic per lane there serialises.
    const unsigned lanes = __ballot_sync(__activemask(), counted);
    if (counted) {
      const auto bucket = static_cast<unsigned>((key >> shift) & 0xffu);
      const unsigned peers = __match_any_sync(lanes, bucket);
      if ((threadIdx.x % 32) == static_cast<unsigned>(__ffs(peers) - 1))
        atomicAdd(&counts[bucket], static_cast<unsigned>(__popc(peers)));
    }
  }
  __syncthreads();
  for (unsigned b = threadIdx.x; b < 256; b += blockDim.x)
    if (counts[b] != 0) atomicAdd(&histograms[g * 256 + b], counts[b]);
}

/// Per group: the digit holding the take-th lowest key; entries below it are pruned for sure.
__global__ void choose_digit(selection_group* groups, index_t group_count, int shift,
                             unsigned long long* histograms) {
  const index_t g = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (g >= group_count) return;
  selection_group& state = groups[g];
  unsigned long long* const h = histograms + g * 256;
  if (state.mode == 2) {
    long long below = 0;
    int b = 0;
    while (b < 255 && below + static_cast<long long>(h[b]) < state.take) below += h[b++];
    state.take -= below;
    state.prefix |= static_cast<unsigned long long>(b) << shift;
  }
  for (int b = 0; b < 256; ++b) h[b] = 0;  // ready for the next digit
}

/// Per segment: how many keys equal the group's k-th lowest key.
template <class T>
__global__ void count_equal(matrix_view<const T, device_space> scores, group_layout layout,
                            const selection_group* groups, unsigned long long* equal) {
  using Key = key_t<T>;
  __shared__ unsigned int count;
  const index_t segment = blockIdx.x;
  const index_t i = segment / layout.column_blocks, cb = segment % layout.column_blocks;
  const selection_group state = groups[layout.group_of(i, cb)];
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  if (state.mode == 2) {
    const index_t c0 = cb * layout.width, c1 = std::min(layout.cols, c0 + layout.width);
    unsigned int mine = 0;
    for (index_t j = c0 + threadIdx.x; j < c1; j += blockDim.x)
      mine += ordered_key(to_compute<compute_type_for<T>>(scores(i, j))) ==
                      static_cast<Key>(state.prefix)
                  ? 1u
                  : 0u;
    if (mine != 0) atomicAdd(&count, mine);
  }
  __syncthreads();
  if (threadIdx.x == 0) equal[segment] = count;
}

inline constexpr int selection_threads = 256;

/// Per group: the exclusive prefix sum of `equal` over its segments in row order (one block
/// per group).
__global__ void scan_equal_in_groups(group_layout layout, unsigned long long* equal) {
  using scan = cub::BlockScan<unsigned long long, selection_threads>;
  __shared__ typename scan::TempStorage storage;
  __shared__ unsigned long long carry;
  const index_t g = blockIdx.x;
  const index_t rg = g / layout.column_blocks, cb = g % layout.column_blocks;
  const index_t r0 = rg * layout.group_rows, r1 = std::min(layout.rows, r0 + layout.group_rows);
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  for (index_t base = r0; base < r1; base += selection_threads) {
    const index_t i = base + threadIdx.x;
    const index_t segment = i * layout.column_blocks + cb;
    const unsigned long long value = i < r1 ? equal[segment] : 0ull;
    unsigned long long before = 0, total = 0;
    scan(storage).ExclusiveSum(value, before, total);
    if (i < r1) equal[segment] = carry + before;
    __syncthreads();
    if (threadIdx.x == 0) carry += total;
    __syncthreads();
  }
}

/// Writes the flags of each segment: keys below the k-th lowest are pruned, and of the keys
/// equal to it the first `take` in group order.
template <class T>
__global__ void mark_lowest(matrix_view<const T, device_space> scores, group_layout layout,
                            const selection_group* groups, const unsigned long long* equal_before,
                            matrix_view<std::uint8_t, device_space> out) {
  using Key = key_t<T>;
  using scan = cub::BlockScan<unsigned int, selection_threads>;
  __shared__ typename scan::TempStorage storage;
  const index_t segment = blockIdx.x;
  const index_t i = segment / layout.column_blocks, cb = segment % layout.column_blocks;
  const selection_group state = groups[layout.group_of(i, cb)];
  const index_t c0 = cb * layout.width, c1 = std::min(layout.cols, c0 + layout.width);
  long long seen = static_cast<long long>(state.mode == 2 ? equal_before[segment] : 0ull);
  for (index_t base = c0; base < c1; base += selection_threads) {
    const index_t j = base + threadIdx.x;
    std::uint8_t flag = state.mode == 1 ? 1 : 0;
    unsigned int equal = 0;
    Key key = 0;
    if (state.mode == 2 && j < c1) {
      key = ordered_key(to_compute<compute_type_for<T>>(scores(i, j)));
      equal = key == static_cast<Key>(state.prefix) ? 1u : 0u;
    }
    unsigned int before = 0, total = 0;
    scan(storage).ExclusiveSum(equal, before, total);
    if (state.mode == 2 && j < c1)
      flag = key < static_cast<Key>(state.prefix) ||
                     (equal != 0 && seen + static_cast<long long>(before) < state.take)
                 ? 1
                 : 0;
    if (j < c1) out(i, j) = flag;
    seen += total;
    __syncthreads();  // the scan's storage is reused
  }
}

inline constexpr int row_select_threads = 256;
/// Blocks of select_row_lowest_in_shared per multiprocessor: all 64 warps (at most 32 registers
/// a thread; the shared memory of a 4096-column row allows eight).
inline constexpr int row_select_blocks_per_sm = 8;

/// Bits of the two 10-bit radix digits that 32-bit keys start with in
/// select_row_lowest_in_shared (the first: sign, exponent and the first mantissa bit). Their
/// 1024 counts (4 KB) leave room for eight blocks per multiprocessor (six with 12 bits:
/// benchmarks/results/h200-2026-12-02.md).
inline constexpr int row_select_first_digit = 10;

/// The dynamic shared memory of select_row_lowest_in_shared for rows of `cols` scores: the
/// keys, rounded up to whole 16-byte words (read four at a time), and for 32-bit keys
/// 2^row_select_first_digit words before them (the counts of a digit, then the candidates of
/// the chosen bucket: at most that many).
template <class T>
std::size_t row_select_shared_bytes(index_t cols) {
  const index_t per_word = static_cast<index_t>(16 / sizeof(key_t<T>));
  const index_t candidates = sizeof(key_t<T>) == 4 ? index_t{1} << row_select_first_digit : 0;
  return static_cast<std::size_t>((cols + per_word - 1) / per_word * per_word + candidates) *
         sizeof(key_t<T>);
}

/// Per-row selection with the row's keys in shared memory; each block takes rows from
/// `next_row` (zero at launch) until none is left, reads a row once (16-byte loads when
/// `vectorised`; the next row is prefetched into L2 meanwhile), finds its k-th lowest key by
/// radix selection over shared memory, then writes the row's flags: keys below it pruned, and of
/// the keys equal to it the first ones in column order (a block scan over the row only when equal
/// keys straddle the cut; otherwise the flags go out in `width`-byte stores when `vector_flags`).
/// 32-bit keys: a 10-bit digit counted as the row is read, a second 10-bit digit counted over
/// the keys of the chosen bucket, then the keys sharing both (usually a few) gathered and ranked
/// by one warp (or, when more than 32, by 8- and 4-bit digits). 64-bit keys: 8-bit digits over
/// the row. A row holding a NaN or -inf score lowers *first to the row-major index of each and is
/// left unwritten. 0 < k < cols.
template <class T>
__global__ void __launch_bounds__(row_select_threads, row_select_blocks_per_sm)
    select_row_lowest_in_shared(matrix_view<const T, device_space> scores, index_t k,
                                bool vectorised, bool vector_flags,
                                matrix_view<std::uint8_t, device_space> out,
                                unsigned long long* first, unsigned long long* next_row) {
  using Key = key_t<T>;
  using C = compute_type_for<T>;
  using scan = cub::BlockScan<unsigned int, row_select_threads>;
  extern __shared__ unsigned long long shared_words[];
  constexpr int threads = row_select_threads;
  constexpr int wide_digit = row_select_first_digit;
  constexpr unsigned wide_buckets = 1u << wide_digit;
  constexpr int per_thread = wide_buckets / threads;
  constexpr int bits = static_cast<int>(sizeof(Key) * 8);
  constexpr unsigned all_lanes = 0xffffffffu;
  constexpr int width = static_cast<int>(16 / sizeof(T));
  struct alignas(width) flag_group {
    std::uint8_t flag[width];
  };
  // 32-bit keys: the counts of a 10-bit digit, or the candidates of the chosen bucket, in
  // wide_buckets words; then the row's keys. Between rows both counts are zero.
  auto* const wide_counts = reinterpret_cast<unsigned int*>(shared_words);
  Key* const keys = reinterpret_cast<Key*>(shared_words) + (bits == 32 ? wide_buckets : 0);
  __shared__ unsigned int counts[256];
  __shared__ unsigned int candidate_count;
  __shared__ typename scan::TempStorage storage;
  __shared__ unsigned long long chosen_prefix, current_row;
  __shared__ long long chosen_take;
  __shared__ unsigned chosen_equal;
  const index_t cols = scores.cols(), rows = scores.rows();
  // A row fits in shared memory: positions within it are ints (64-bit index arithmetic roughly
  // doubled the instructions of the loops over the keys).
  const int n_cols = static_cast<int>(cols);
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;

  for (int b = tid; b < 256; b += threads) counts[b] = 0;
  if constexpr (bits == 32)
    for (int t = 0; t < per_thread; ++t) wide_counts[tid * per_thread + t] = 0;
  if (tid == 0) {
    candidate_count = 0;
    current_row = atomicAdd(next_row, 1ull);
  }
  __syncthreads();
  while (true) {
    const auto i = static_cast<index_t>(current_row);
    if (i >= rows) break;
    // The row after this one, fetched early so that its latency hides behind this row's work.
    unsigned long long upcoming = 0;
    if (tid == 0) upcoming = atomicAdd(next_row, 1ull);

    bool bad = false;
    const auto note = [&](C value) {
      const Key key = ordered_key(value);
      bad |= unrankable_key(key);
      // The first digit (sign, exponent, a mantissa bit) spreads the scores over 1024
      // buckets, so lanes rarely collide and plain shared atomics do.
      if constexpr (bits == 32) atomicAdd(&wide_counts[key >> (bits - wide_digit)], 1u);
      return key;
    };
    if (vectorised) {
      const auto* row = reinterpret_cast<const uint4*>(scores.data() + i * scores.row_stride());
      const int vectors = n_cols / width;
      // One load in flight per thread: two spilled registers (at 32 a thread) and ran slower
      // (benchmarks/results/h200-2026-12-02-second.md).
      for (int v = tid; v < vectors; v += threads) {
        const uint4 raw = row[v];
        T values[width];
        std::memcpy(values, &raw, sizeof raw);
        Key group[width];
#pragma unroll
        for (int t = 0; t < width; ++t) group[t] = note(to_compute<C>(values[t]));
        // A group's keys are whole 16-byte words (sizeof(Key) >= sizeof(T)).
        constexpr int words = static_cast<int>(width * sizeof(Key) / 16);
        auto* const to = reinterpret_cast<uint4*>(keys + v * width);
#pragma unroll
        for (int w = 0; w < words; ++w) {
          uint4 word;
          std::memcpy(&word, reinterpret_cast<const char*>(group) + 16 * w, 16);
          to[w] = word;
        }
      }
    } else {
      for (int j = tid; j < n_cols; j += threads) keys[j] = note(to_compute<C>(scores(i, j)));
    }
    const bool row_has_bad = __syncthreads_or(bad) != 0;
    if (tid == 0) {
      current_row = upcoming;  // every thread has read this row's index
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      // The next row is brought into L2 while this one is selected (one bulk prefetch of its
      // 16-byte words): its reads then wait on L2 instead of memory.
      if (vectorised && upcoming < static_cast<unsigned long long>(rows))
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(
                         scores.data() + static_cast<index_t>(upcoming) * scores.row_stride()),
                     "r"(static_cast<unsigned>(cols * static_cast<index_t>(sizeof(T))))
                     : "memory");
#endif
    }
    if (row_has_bad) {
      // Rare: the row's NaN and -inf scores are located for the host's message.
      for (int j = tid; j < n_cols; j += threads)
        if (unrankable_key(keys[j]))
          atomicMin(first, static_cast<unsigned long long>(i * cols + j));
      if constexpr (bits == 32)
        for (int t = 0; t < per_thread; ++t) wide_counts[tid * per_thread + t] = 0;
      __syncthreads();  // the keys are reused by the next row
      continue;
    }

    Key prefix = 0;
    long long take = static_cast<long long>(k);
    // The digit (digit_bits <= 8 at `shift`, counted in `counts`) holding the take-th lowest key:
    // warp 0 scans the counts and zeroes them.
    const auto choose = [&](int shift) {
      if (warp == 0) {
        unsigned own[8];
        unsigned long long sum = 0;
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          own[t] = counts[lane * 8 + t];
          counts[lane * 8 + t] = 0;
          sum += own[t];
        }
        unsigned long long inclusive = sum;
        for (int offset = 1; offset < 32; offset *= 2) {
          const unsigned long long other = __shfl_up_sync(all_lanes, inclusive, offset);
          if (lane >= offset) inclusive += other;
        }
        const auto below_lane = static_cast<long long>(inclusive - sum);
        if (below_lane < take && take <= static_cast<long long>(inclusive)) {
          long long below = below_lane;
          int t = 0;
          while (t < 7 && below + static_cast<long long>(own[t]) < take) below += own[t++];
          chosen_prefix = static_cast<unsigned long long>(prefix) |
                          (static_cast<unsigned long long>(lane * 8 + t) << shift);
          chosen_take = take - below;
          chosen_equal = own[t];  // after the last digit: the count of keys equal to the prefix
        }
      }
      __syncthreads();
      prefix = static_cast<Key>(chosen_prefix);
      take = chosen_take;
    };
    // Counts the digit (digit_bits at `shift`) of the n keys of src that match prefix above it.
    const auto count_digit = [&](const Key* src, int n, int shift, int digit_bits) {
      const int above = shift + digit_bits;
      const bool top = above >= bits;
      const Key digit_mask = static_cast<Key>((1u << digit_bits) - 1u);
      for (int j = tid; j < n; j += threads) {
        const Key key = src[j];
        const bool counted = top || (key >> above) == (prefix >> above);
        const unsigned lanes = __ballot_sync(__activemask(), counted);
        if (counted) {
          // Lanes with the same bucket add once through their leader: the top digits of scores
          // bunch into few buckets, and one atomic per lane there serialises.
          const auto bucket = static_cast<unsigned>((key >> shift) & digit_mask);
          const unsigned peers = __match_any_sync(lanes, bucket);
          if (lane == __ffs(peers) - 1)
            atomicAdd(&counts[bucket], static_cast<unsigned>(__popc(peers)));
        }
      }
      __syncthreads();
    };
    if constexpr (bits == 32) {
      // A 10-bit digit counted in wide_counts: per thread four buckets, a block scan; each
      // thread zeroes its buckets once read.
      const auto choose_wide = [&](int shift) {
        unsigned own[per_thread], own_sum = 0;
#pragma unroll
        for (int t = 0; t < per_thread; ++t) {
          own[t] = wide_counts[tid * per_thread + t];
          wide_counts[tid * per_thread + t] = 0;
          own_sum += own[t];
        }
        unsigned before = 0, total = 0;
        scan(storage).ExclusiveSum(own_sum, before, total);
        if (static_cast<long long>(before) < take &&
            take <= static_cast<long long>(before) + static_cast<long long>(own_sum)) {
          long long below = before;
          unsigned bucket = tid * per_thread, in_bucket = own[0];
#pragma unroll
          for (int t = 0; t < per_thread - 1; ++t)
            if (below + static_cast<long long>(in_bucket) < take) {
              below += in_bucket;
              ++bucket;
              in_bucket = own[t + 1];
            }
          chosen_prefix = static_cast<unsigned long long>(prefix) |
                          (static_cast<unsigned long long>(bucket) << shift);
          chosen_take = take - below;
          chosen_equal = in_bucket;
        }
        __syncthreads();
        prefix = static_cast<Key>(chosen_prefix);
        take = chosen_take;
      };
      // Four consecutive keys per thread and step, in one 16-byte word (keys is aligned and
      // padded to whole words); past the row's end a key that matches no prefix stands in.
      const auto for_each_key = [&](auto&& visit) {
        for (int j0 = 4 * tid; j0 < n_cols; j0 += 4 * threads) {
          const uint4 q = *reinterpret_cast<const uint4*>(keys + j0);
          const auto off_row = static_cast<Key>(~prefix);
          visit(q.x, j0 + 1 < n_cols ? q.y : off_row, j0 + 2 < n_cols ? q.z : off_row,
                j0 + 3 < n_cols ? q.w : off_row);
        }
      };
      constexpr int second_shift = bits - 2 * wide_digit;
      choose_wide(bits - wide_digit);
      // The second digit of the keys in the chosen bucket; the others add 0 (no branch).
      const Key first_bucket = prefix >> (bits - wide_digit);
      const auto count_second = [&](Key key) {
        atomicAdd(&wide_counts[(key >> second_shift) & (wide_buckets - 1)],
                  (key >> (bits - wide_digit)) == first_bucket ? 1u : 0u);
      };
      for_each_key([&](Key a, Key b, Key c, Key d) {
        count_second(a);
        count_second(b);
        count_second(c);
        count_second(d);
      });
      __syncthreads();
      choose_wide(second_shift);
      // The keys sharing the chosen 20 bits (m of them) are copied over the counts when they
      // fit; otherwise the last digits run over the whole row.
      const auto m = static_cast<int>(chosen_equal);
      const bool fit = m <= static_cast<int>(wide_buckets);
      Key* const candidates = wide_counts;
      if (fit) {
        const Key top = prefix >> second_shift;
        const auto keep = [&](Key key) {
          if ((key >> second_shift) == top) candidates[atomicAdd(&candidate_count, 1u)] = key;
        };
        for_each_key([&](Key a, Key b, Key c, Key d) {
          if ((a >> second_shift) == top || (b >> second_shift) == top ||
              (c >> second_shift) == top || (d >> second_shift) == top) {
            keep(a);
            keep(b);
            keep(c);
            keep(d);
          }
        });
      }
      __syncthreads();
      if (tid == 0) candidate_count = 0;
      if (fit && m <= 32) {
        // One warp ranks the few candidates against each other (and zeroes them).
        if (warp == 0) {
          const Key mine = lane < m ? candidates[lane] : Key{0};
          if (lane < m) candidates[lane] = 0;
          int less = 0, not_above = 0;
          for (int c = 0; c < m; ++c) {
            const Key other = __shfl_sync(all_lanes, mine, c);
            less += other < mine ? 1 : 0;
            not_above += other <= mine ? 1 : 0;
          }
          if (lane < m && less < take && take <= not_above) {
            chosen_prefix = mine;
            chosen_take = take - less;
            chosen_equal = static_cast<unsigned>(not_above - less);
          }
        }
        __syncthreads();
        prefix = static_cast<Key>(chosen_prefix);
        take = chosen_take;
      } else {
        const Key* const src = fit ? candidates : keys;
        const int n = fit ? m : n_cols;
        for (int rest = second_shift; rest > 0;) {
          const int digit_bits = std::min(rest, 8);
          rest -= digit_bits;
          count_digit(src, n, rest, digit_bits);
          choose(rest);
        }
        if (fit)
          for (int j = tid; j < m; j += threads) candidates[j] = 0;
      }
    } else {
      for (int shift = bits - 8; shift >= 0; shift -= 8) {
        count_digit(keys, n_cols, shift, 8);
        choose(shift);
      }
    }
    if (take == static_cast<long long>(chosen_equal)) {
      // Every key equal to the k-th lowest is pruned (always, unless equal scores straddle the
      // cut): no scan of the ties in column order is needed.
      if (vector_flags) {
        auto* const row = reinterpret_cast<flag_group*>(out.data() + i * out.row_stride());
        for (int v = tid; v < n_cols / width; v += threads) {
          flag_group f;
#pragma unroll
          for (int t = 0; t < width; ++t) f.flag[t] = keys[v * width + t] <= prefix ? 1 : 0;
          row[v] = f;
        }
      } else {
        for (int j = tid; j < n_cols; j += threads) out(i, j) = keys[j] <= prefix ? 1 : 0;
      }
      __syncthreads();  // the keys are reused by the next row
      continue;
    }
    long long seen = 0;
    for (int base = 0; base < n_cols; base += threads) {
      const int j = base + tid;
      const Key key = j < n_cols ? keys[j] : Key{0};
      const unsigned equal = j < n_cols && key == prefix ? 1u : 0u;
      unsigned before = 0, total = 0;
      scan(storage).ExclusiveSum(equal, before, total);
      if (j < n_cols)
        out(i, j) =
            key < prefix || (equal != 0 && seen + static_cast<long long>(before) < take) ? 1 : 0;
      seen += total;
      __syncthreads();  // the scan's storage and the keys are reused
    }
  }
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

namespace detail {

/// The most shared memory a row's keys may take in select_lowest_per_row.
inline constexpr std::size_t row_select_shared_limit = 160 * 1024;

/// Whether select_lowest_per_row takes rows of this many columns.
template <class T>
bool fits_row_select(index_t cols) {
  return row_select_shared_bytes<T>(cols) <= row_select_shared_limit;
}

/// The k = prune_count(cols) lowest of every row of scores into a fresh mask, one pass, with
/// the score check fused (non_finite_error naming the first NaN or -inf score, as
/// select_lowest). Needs fits_row_select<T>(cols). Synchronises p's stream.
template <cuda_policy P, class T>
void select_lowest_per_row(const P& p, const char* who, matrix_view<const T, device_space> scores,
                           index_t k, matrix_view<std::uint8_t, device_space> out) {
  require_same_shape(who, "scores", scores.rows(), scores.cols(), "mask", out.rows(), out.cols());
  if (scores.empty()) return;
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  const index_t cols = scores.cols();
  if (k <= 0 || k >= cols) {
    // Nothing to rank: every flag is the same; the check still runs.
    require_rankable(p, scores, who);
    const std::uint8_t flag = k <= 0 ? 0 : 1;
    for (index_t i = 0; i < out.rows(); ++i)
      POLLARD_CUDA_CHECK(cudaMemsetAsync(out.data() + i * out.row_stride(), flag,
                                         static_cast<std::size_t>(cols), stream));
    r.synchronize();
    return;
  }
  unsigned long long* const first = r.status_words();
  unsigned long long* const next_row = first + 1;
  POLLARD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(*first), stream));
  POLLARD_CUDA_CHECK(cudaMemsetAsync(next_row, 0, sizeof(*next_row), stream));
  constexpr auto width = static_cast<index_t>(16 / sizeof(T));
  const bool vectorised = scores.col_stride() == 1 && cols % width == 0 &&
                          scores.row_stride() % width == 0 &&
                          reinterpret_cast<std::uintptr_t>(scores.data()) % 16 == 0;
  const std::size_t bytes = row_select_shared_bytes<T>(cols);
  POLLARD_CUDA_CHECK(cudaFuncSetAttribute(select_row_lowest_in_shared<T>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
  // As many blocks as fit on the device at once; they take the rows one by one.
  const auto blocks = static_cast<unsigned>(std::clamp<index_t>(
      resident_blocks(select_row_lowest_in_shared<T>, row_select_threads, bytes), 1,
      scores.rows()));
  const bool vector_flags = vectorised && out.col_stride() == 1 && out.row_stride() % width == 0 &&
                            reinterpret_cast<std::uintptr_t>(out.data()) % width == 0;
  select_row_lowest_in_shared<T><<<blocks, row_select_threads, bytes, stream>>>(
      scores, k, vectorised, vector_flags, out, first, next_row);
  POLLARD_CUDA_CHECK_LAUNCH("select_row_lowest_in_shared");
  unsigned long long found = no_entry;
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(&found, first, sizeof(found), cudaMemcpyDeviceToHost, stream));
  r.synchronize();
  if (found != no_entry) {
    const auto i = static_cast<index_t>(found) / cols, j = static_cast<index_t>(found) % cols;
    pollard::detail::throw_bad_score(who, i, j, value_at(scores, i, j));
  }
}

/// select_lowest without the score check, asynchronous: for scores known to be rankable.
template <cuda_policy P, class T, class PruneCount>
void select_lowest_unchecked(const P& p, const char* who, matrix_view<const T, device_space> scores,
                             index_t group_rows, index_t group_width, PruneCount prune_count,
                             matrix_view<std::uint8_t, device_space> out) {
  using Key = detail::key_t<T>;
  require_same_shape(who, "scores", scores.rows(), scores.cols(), "mask", out.rows(), out.cols());
  if (scores.empty()) return;
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  const index_t rows = scores.rows(), cols = scores.cols();
  group_rows = std::clamp<index_t>(group_rows, 1, rows);
  group_width = std::clamp<index_t>(group_width, 1, cols);
  const detail::group_layout layout{rows, cols, group_rows, group_width,
                                    (cols + group_width - 1) / group_width};
  const index_t group_count = layout.groups();
  const index_t segments = rows * layout.column_blocks;

  std::vector<detail::selection_group> groups(static_cast<std::size_t>(group_count));
  for (index_t g = 0; g < group_count; ++g) {
    const index_t rg = g / layout.column_blocks, cb = g % layout.column_blocks;
    const index_t n = (std::min(rows, (rg + 1) * group_rows) - rg * group_rows) *
                      (std::min(cols, (cb + 1) * group_width) - cb * group_width);
    const index_t k = std::clamp<index_t>(prune_count(n), 0, n);
    groups[static_cast<std::size_t>(g)] = {0ull, static_cast<long long>(k),
                                           k == 0 ? 0 : (k == n ? 1 : 2)};
  }
  // Workspace: the groups, their 256-bin histograms, and one counter per segment.
  const std::size_t group_bytes =
      ((groups.size() * sizeof(detail::selection_group) + 255) / 256) * 256;
  const std::size_t histogram_bytes = static_cast<std::size_t>(group_count) * 256 * 8;
  const std::size_t equal_bytes = static_cast<std::size_t>(segments) * 8;
  auto* const base = static_cast<char*>(r.workspace(group_bytes + histogram_bytes + equal_bytes));
  auto* const device_groups = reinterpret_cast<detail::selection_group*>(base);
  auto* const histograms = reinterpret_cast<unsigned long long*>(base + group_bytes);
  auto* const equal = reinterpret_cast<unsigned long long*>(base + group_bytes + histogram_bytes);
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(device_groups, groups.data(),
                                     groups.size() * sizeof(detail::selection_group),
                                     cudaMemcpyHostToDevice, stream));
  POLLARD_CUDA_CHECK(cudaMemsetAsync(histograms, 0, histogram_bytes, stream));

  const auto segment_blocks = static_cast<unsigned>(segments);
  const unsigned threads = group_width >= 256 ? 256 : 128;
  const auto group_blocks = static_cast<unsigned>((group_count + 127) / 128);
  for (int shift = static_cast<int>(sizeof(Key) * 8) - 8; shift >= 0; shift -= 8) {
    detail::digit_histogram<T>
        <<<segment_blocks, threads, 0, stream>>>(scores, layout, device_groups, shift, histograms);
    POLLARD_CUDA_CHECK_LAUNCH("digit_histogram");
    detail::choose_digit<<<group_blocks, 128, 0, stream>>>(device_groups, group_count, shift,
                                                           histograms);
    POLLARD_CUDA_CHECK_LAUNCH("choose_digit");
  }
  detail::count_equal<T>
      <<<segment_blocks, threads, 0, stream>>>(scores, layout, device_groups, equal);
  POLLARD_CUDA_CHECK_LAUNCH("count_equal");
  detail::scan_equal_in_groups<<<static_cast<unsigned>(group_count), detail::selection_threads, 0,
                                 stream>>>(layout, equal);
  POLLARD_CUDA_CHECK_LAUNCH("scan_equal_in_groups");
  detail::mark_lowest<T><<<segment_blocks, detail::selection_threads, 0, stream>>>(
      scores, layout, device_groups, equal, out);
  POLLARD_CUDA_CHECK_LAUNCH("mark_lowest");
}

}  // namespace detail

/// The backend primitive: writes to `out` (rows x cols flags, every one overwritten) the lowest
/// entries of every comparison group of `scores`: a group is `group_rows` consecutive rows
/// (the last group shorter) of a block of `group_width` consecutive columns (the last block
/// narrower), and prune_count(n) says how many of its n entries go. Entries are ranked by
/// (score, row-major position in the group), as a stable ascending sort ranks them and as the
/// CPU backend does. Throws non_finite_error naming the first NaN or -inf score (+inf ranks
/// above every finite score) before anything is written (a check that synchronises p's stream; the
/// selection itself is queued on it).
///
/// Radix selection, 8 bits at a time from the top of the keys: a histogram pass per digit
/// narrows every group to the bucket of its k-th lowest key; then the entries equal to that
/// key are counted per row, scanned in group order, and the first ones pruned.
template <cuda_policy P, class T, class PruneCount>
void select_lowest(const P& p, const char* who, matrix_view<const T, device_space> scores,
                   index_t group_rows, index_t group_width, PruneCount prune_count,
                   matrix_view<std::uint8_t, device_space> out) {
  require_same_shape(who, "scores", scores.rows(), scores.cols(), "mask", out.rows(), out.cols());
  if (scores.empty()) return;
  detail::require_rankable(p, scores, who);
  detail::select_lowest_unchecked(p, who, scores, group_rows, group_width, prune_count, out);
}

}  // namespace pollard::cuda

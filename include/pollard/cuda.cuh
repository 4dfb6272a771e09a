// pollard — the CUDA backend: the device primitives, buffers and masks, run by
// pollard::cuda::par or pollard::cuda::par.on(stream). For .cu files compiled by nvcc (the CPU
// library stays in pollard/pollard.hpp, which C++ files include).
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/cuda.cuh is CUDA code: include it from a .cu file compiled by nvcc, or include pollard/pollard.hpp from C++ files"
#endif

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/cholesky.cuh"
#include "pollard/backends/cuda/column_moments.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/device_mask.cuh"
#include "pollard/backends/cuda/device_moment_statistics.cuh"
#include "pollard/backends/cuda/divergence.cuh"
#include "pollard/backends/cuda/dsnot.cuh"
#include "pollard/backends/cuda/gram_update.cuh"
#include "pollard/backends/cuda/perplexity.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/backends/cuda/rank_n_m.cuh"
#include "pollard/backends/cuda/resident_blocks.cuh"
#include "pollard/backends/cuda/row_softmax.cuh"
#include "pollard/backends/cuda/scores.cuh"
#include "pollard/backends/cuda/select_lowest.cuh"
#include "pollard/backends/cuda/select_mask.cuh"
#include "pollard/backends/cuda/sparsegpt.cuh"

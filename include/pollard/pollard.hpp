// pollard — the CPU library in one include: views and adapters, statistics, criteria, mask
// policies, solvers and metrics. The LLM layer (pollard/llm/, pollard/io/) and the LibTorch
// adapter are included on their own.
#pragma once

#include "pollard/core/config.hpp"
#include "pollard/core/convert.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"
#include "pollard/core/view.hpp"

#include "pollard/adapters/eigen.hpp"
#include "pollard/adapters/raw.hpp"
#if __has_include(<dlpack/dlpack.h>)
#include "pollard/adapters/dlpack.hpp"
#endif

#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "pollard/stats/normalisation.hpp"

#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/obs.hpp"
#include "pollard/criteria/pruning_criterion.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"

#include "pollard/masks/layer_allocation.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"

#include "pollard/solvers/dsnot.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"

#include "pollard/metrics/divergence.hpp"
#include "pollard/metrics/divergence_report.hpp"
#include "pollard/metrics/perplexity.hpp"
#include "pollard/metrics/reconstruction_error.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/metrics/task_metrics.hpp"

#include "pollard/prune.hpp"

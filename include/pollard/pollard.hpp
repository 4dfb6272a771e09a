// pollard — the CPU library in one include: views and adapters, statistics, criteria, mask
// policies, solvers and metrics, and the engine-independent whole-model pruning: the model
// concepts, the block-by-block driver with its recipe and report (to_json too), and the
// calibration sources. It needs Eigen only (the pollard::pollard target). pollard/llm.hpp adds the
// LLM layer (evaluation, file formats, data-set readers, the Llama engine; zlib and PCRE2); the
// LibTorch adapter (pollard/adapters/torch.hpp) and the CUDA backend (pollard/cuda.cuh) are
// included on their own.
#pragma once

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/convert.hpp"
#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/core/view.hpp"

#include "pollard/adapters/eigen.hpp"
#include "pollard/adapters/raw.hpp"
#if __has_include(<dlpack/dlpack.h>)
#include "pollard/adapters/dlpack.hpp"
#endif

#include "pollard/backends/cpu/policy.hpp"

#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"
#include "pollard/stats/normalisation.hpp"

#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/element_scores.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/obs.hpp"
#include "pollard/criteria/pruning_criterion.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"

#include "pollard/masks/layer_allocation.hpp"
#include "pollard/masks/mask_policy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/score_checks.hpp"
#include "pollard/masks/unstructured.hpp"

#include "pollard/solvers/dsnot.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/obs_reconstruction_options.hpp"
#include "pollard/solvers/obs_sweep.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "pollard/solvers/sparsegpt_options.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

#include "pollard/metrics/divergence.hpp"
#include "pollard/metrics/divergence_report.hpp"
#include "pollard/metrics/divergence_sample.hpp"
#include "pollard/metrics/mean_with_error.hpp"
#include "pollard/metrics/percentile.hpp"
#include "pollard/metrics/perplexity.hpp"
#include "pollard/metrics/reconstruction_error.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/metrics/task_metrics.hpp"

#include "pollard/prune.hpp"

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_mixture.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/calibration/document_windows.hpp"
#include "pollard/calibration/instruction_windows.hpp"
#include "pollard/calibration/python_random.hpp"
#include "pollard/calibration/self_generated.hpp"

#include "pollard/model/block_input.hpp"
#include "pollard/model/block_sequential_model.hpp"
#include "pollard/model/callback_ref.hpp"
#include "pollard/model/causal_lm.hpp"
#include "pollard/model/linear_ref.hpp"
#include "pollard/model/model_traits.hpp"
#include "pollard/model/name_patterns.hpp"
#include "pollard/model/prune_by_magnitude.hpp"
#include "pollard/model/prune_model.hpp"
#include "pollard/model/prune_recipe.hpp"
#include "pollard/model/prune_report.hpp"
#include "pollard/model/prune_report_json.hpp"
#include "pollard/model/sequence_layout.hpp"
#include "pollard/model/sparsity_allocation.hpp"

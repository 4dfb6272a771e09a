// A model type without run_block is not a block_sequential_model: pollard::model::run_block on it
// does not compile. The control adds run_block and must compile.
#include <span>
#include <vector>

#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/model/block_sequential_model.hpp"

struct two_block_model {
  pollard::index_t block_count() const { return 2; }
  pollard::index_t hidden_size() const { return 3; }
  std::vector<pollard::model::block_input> block_inputs(pollard::index_t) const { return {}; }
  std::vector<pollard::model::linear_ref> linears(pollard::index_t) { return {}; }
  void embed(std::span<const pollard::token_id>, pollard::matrix_view<float>) {}
#ifdef POLLARD_FAILTEST_CONTROL
  void run_block(pollard::index_t, pollard::matrix_view<float>, pollard::model::sequence_layout,
                 pollard::model::input_observer) {}
#endif
};

void run_first_block(two_block_model& m, pollard::matrix_view<float> hidden) {
  pollard::model::run_block(m, 0, hidden, pollard::model::sequence_layout{1, hidden.rows()});
}

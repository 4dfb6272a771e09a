// pollard — the merge loop of the BPE tokenizers (llama2.c, SentencePiece, byte-level): adjacent
// symbols joined best candidate first, in O(m log m) for m candidates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace pollard::llm::detail {

/// Merges symbols 0 .. n-1 of a sequence as the reference loop does (llama2.c's run.c: rescan
/// every adjacent pair, merge the best, repeat until none merges), with a heap of candidate
/// pairs over a linked list of live symbols instead of the rescan, which is quadratic in n.
///
/// `offer(left, right)` returns the priority of merging the adjacent live symbols `left` and
/// `right` as they are now (std::optional<Priority>; nullopt: they do not merge). The smallest
/// priority merges first and, among equal ones, the leftmost pair (the smallest `left`), which is
/// the tie rule of run.c and of llama.cpp's SentencePiece and BPE sessions. `merge(left, right)`
/// joins `right` into `left`; `right` is dead afterwards. A candidate is dropped when either of
/// its symbols has merged since it was offered, so `offer` is asked again about every new pair.
///
/// Returns `next`: next[i] is the live symbol after live symbol i, or n; symbol 0 is always live.
template <class Priority, class Offer, class Merge>
std::vector<std::size_t> merge_adjacent_best_first(std::size_t n, Offer&& offer, Merge&& merge) {
  std::vector<std::size_t> next(n), prev(n);
  std::vector<std::uint32_t> version(n, 0);  // merges each symbol has taken part in
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i - 1;  // wraps for i = 0, which has no previous symbol; never read there
  }
  struct candidate {
    Priority priority;
    std::size_t left, right;
    std::uint32_t left_version, right_version;
  };
  const auto later = [](const candidate& a, const candidate& b) {
    if (a.priority < b.priority) return false;
    if (b.priority < a.priority) return true;
    return a.left > b.left;
  };
  std::priority_queue<candidate, std::vector<candidate>, decltype(later)> queue(later);
  const auto consider = [&](std::size_t left, std::size_t right) {
    if (const std::optional<Priority> p = offer(left, right))
      queue.push({*p, left, right, version[left], version[right]});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!queue.empty()) {
    const candidate c = queue.top();
    queue.pop();
    // A merged-away symbol's version moved on when it merged, so this also drops dead ones.
    if (version[c.left] != c.left_version || version[c.right] != c.right_version) continue;
    merge(c.left, c.right);
    ++version[c.left];
    ++version[c.right];
    next[c.left] = next[c.right];
    if (next[c.left] < n) prev[next[c.left]] = c.left;
    if (c.left > 0) consider(prev[c.left], c.left);
    if (next[c.left] < n) consider(c.left, next[c.left]);
  }
  return next;
}

}  // namespace pollard::llm::detail

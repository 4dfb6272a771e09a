// pollard — instruction_example: one Alpaca-style instruction with its reference response.
#pragma once

#include <string>

namespace pollard::io {

/// One Alpaca-style instruction example.
struct instruction_example {
  std::string instruction;
  std::string input;
  std::string output;
};

}  // namespace pollard::io

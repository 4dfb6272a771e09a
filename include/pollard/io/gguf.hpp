// pollard — GGUF (llama.cpp's model format) versions 2 and 3: every GGUF header in one include
// (values and metadata, tensor types and dequantisation, the reader, the writer, quantisation and
// the rewriter that replaces tensors in an existing file).
#pragma once

#include "pollard/io/gguf/file_type.hpp"
#include "pollard/io/gguf/metadata.hpp"
#include "pollard/io/gguf/quant.hpp"
#include "pollard/io/gguf/quantize.hpp"
#include "pollard/io/gguf/reader.hpp"
#include "pollard/io/gguf/rewrite.hpp"
#include "pollard/io/gguf/tensor_info.hpp"
#include "pollard/io/gguf/value.hpp"
#include "pollard/io/gguf/writer.hpp"

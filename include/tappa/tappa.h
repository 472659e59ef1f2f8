/* tappa: LLM decoder attention and TAPPA scoring on any Vulkan GPU, with a
 * float64 CPU reference for every op. Include this for the whole public API. */
#ifndef TAPPA_H
#define TAPPA_H

#include "tappa/status.h"
#include "tappa/array.h"
#include "tappa/context.h"
#include "tappa/tensor.h"
#include "tappa/ops.h"
#include "tappa/kv_cache.h"
#include "tappa/budget.h"
#include "tappa/compress.h"
#include "tappa/prune.h"
#include "tappa/patterns.h"
#include "tappa/gguf.h"
#include "tappa/convert.h"
#include "tappa/tokenizer.h"
#include "tappa/model.h"
#include "tappa/matrix.h"
#include "tappa/reference.h"
#include "tappa/tensor_io.h"

#endif

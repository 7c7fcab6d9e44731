// The model's view of config.json. The struct and its parser live in weights/
// (only weights/ knows file formats); model/ re-exports the name.
#pragma once

#include "weights/config.h"

namespace qg::model {
using Qwen3Config = weights::Qwen3Config;
}  // namespace qg::model

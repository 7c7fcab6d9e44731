// Runs a list of conversations through the fast verdict path for the moderation and
// guardrail routes: token limits, one queue place for the whole request, the policy,
// metrics. Internal to server/.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "guard/policy.h"
#include "guard/result.h"
#include "server/context.h"

namespace qg::server {

// Results in input order, or the error for the whole request (the first input that
// is too long names its index under `param_base`).
std::variant<std::vector<guard::Result>, ApiError> moderate_all(ServerContext& ctx, const HttpRequest& http,
                                                                const std::vector<guard::Conversation>& inputs,
                                                                const guard::Policy& policy,
                                                                const std::string& param_base);

}  // namespace qg::server

#include "base/error.h"

namespace qg {

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
  throw Error(cat("internal error: check failed: ", expr, " at ", file, ":", line,
                  msg.empty() ? "" : ": ", msg));
}

}  // namespace qg

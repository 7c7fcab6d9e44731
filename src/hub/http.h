// The HTTP client of the hub layer: libcurl (Debian libcurl4-openssl-dev) behind two
// calls, a small GET (the repo listing JSON) and a resumable download into an open
// file. Knows HTTP: redirects (the hub answers a file URL with a 302 to its CDN),
// Range requests, status codes, timeouts, the bearer token. Must not know the cache
// layout or model formats. Thread-safe: every call uses its own curl handle.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

namespace qg::hub {

struct HttpOptions {
  std::string token;            // sent as "Authorization: Bearer <token>" when non-empty
  long connect_timeout_s = 10;  // per connection attempt
  long stall_timeout_s = 30;    // abort when fewer than 1 byte/s arrive for this long
};

struct HttpResult {
  long status = 0;      // the final response's status; 0 when no response came
  std::string body;     // http_get: the body; http_download: the body of an error response
  std::map<std::string, std::string> headers;  // the final response's, names lowercased
  std::string error;    // libcurl's message when the transfer failed, "" when it completed
  bool unreachable = false;  // could not resolve or connect to the host (offline?)
  bool transient = false;    // worth retrying: cut connection, timeout, 429, 5xx
  bool aborted = false;      // the caller's callback asked to stop
  int64_t written = 0;       // http_download: body bytes appended to the file
  bool restarted = false;    // http_download: the server ignored Range; the file was truncated
  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// GET `url`, following redirects; a body over `max_body` bytes fails the transfer
// (hostile servers cannot make us buffer gigabytes).
HttpResult http_get(const std::string& url, const HttpOptions& opt, size_t max_body = 64u << 20);

// HEAD `url` without following redirects: the headers of the first answer (the hub
// puts a file's X-Linked-Etag / X-Linked-Size / X-Repo-Commit on its 302 to the CDN).
HttpResult http_head(const std::string& url, const HttpOptions& opt);

// GET `url` with "Range: bytes=<offset>-" when offset > 0, following redirects, and
// write the body to `out` (positioned at `offset`). A 206 must start at `offset`; a 200
// to a ranged request means the server ignored the range: `out` is truncated to 0 and
// the whole body written (restarted = true). Non-2xx bodies go to result.body instead.
// on_bytes(n) is called for every chunk written; returning false aborts the transfer.
HttpResult http_download(const std::string& url, const HttpOptions& opt, FILE* out, int64_t offset,
                         const std::function<bool(size_t)>& on_bytes);

}  // namespace qg::hub

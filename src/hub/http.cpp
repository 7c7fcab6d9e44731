// libcurl behind the two calls of http.h. One easy handle per call: no shared state
// between the download threads except curl_global_init, done once.
#include "hub/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cctype>
#include <memory>
#include <mutex>

#include "base/error.h"

namespace qg::hub {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  HttpResult* result = nullptr;
  // http_get
  std::string* sink = nullptr;
  size_t max_body = 0;
  // http_download
  FILE* out = nullptr;
  int64_t offset = 0;
  bool checked = false;  // the status of the final response was looked at
  bool to_file = false;
  const std::function<bool(size_t)>* on_bytes = nullptr;
  std::string fail_reason;  // set when a callback refuses the transfer
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->result->headers.clear();  // a new response (after a redirect): keep only the last one's
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    t->result->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * n;
}

size_t on_body_get(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->sink->size() + size * n > t->max_body) {
    t->fail_reason = cat("response larger than ", t->max_body, " bytes");
    return 0;
  }
  t->sink->append(data, size * n);
  return size * n;
}

// "bytes 100-199/1000" -> 100; -1 when absent or malformed.
int64_t content_range_start(const std::string& v) {
  if (v.rfind("bytes ", 0) != 0) return -1;
  int64_t x = 0;
  size_t i = 6, digits = 0;
  for (; i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])) && digits < 18; ++i, ++digits)
    x = x * 10 + (v[i] - '0');
  return digits > 0 && i < v.size() && v[i] == '-' ? x : -1;
}

size_t on_body_download(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (!t->checked) {
    t->checked = true;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 206) {
      const int64_t start = content_range_start(t->result->header("content-range"));
      if (start != t->offset) {
        t->fail_reason = cat("206 response starts at byte ", start, ", asked for ", t->offset);
        return 0;
      }
      t->to_file = true;
    } else if (status == 200) {
      if (t->offset > 0) {  // the server ignored Range: start over
        if (std::fflush(t->out) != 0 || ftruncate(fileno(t->out), 0) != 0 ||
            std::fseek(t->out, 0, SEEK_SET) != 0) {
          t->fail_reason = "cannot truncate the partial file";
          return 0;
        }
        t->result->restarted = true;
      }
      t->to_file = true;
    }
  }
  if (!t->to_file) {  // an error response: keep the start of its body for the message
    if (t->result->body.size() < 65536) t->result->body.append(data, std::min<size_t>(len, 65536));
    return len;
  }
  if (std::fwrite(data, 1, len, t->out) != len) {
    t->fail_reason = "write error (disk full?)";
    return 0;
  }
  t->result->written += static_cast<int64_t>(len);
  if (t->on_bytes && *t->on_bytes && !(*t->on_bytes)(len)) {
    t->result->aborted = true;
    return 0;
  }
  return len;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

HttpResult perform(const std::string& url, const HttpOptions& opt, Transfer& t,
                   curl_write_callback on_body, const std::string& range, bool head = false) {
  global_init();
  HttpResult r;
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  QG_CHECK(curl, "curl_easy_init failed");
  t.curl = curl.get();
  t.result = &r;
  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add_header = [&](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  // libcurl (>= 7.58) drops a custom Authorization header when a redirect leaves the
  // host, so the token reaches the hub but not the CDN it redirects to.
  if (!opt.token.empty()) add_header("Authorization: Bearer " + opt.token);
  add_header("Accept-Encoding: identity");  // sizes and ranges refer to the stored bytes
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "qwen3guard/0.1.0");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, opt.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opt.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based DNS timeouts
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  if (head) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  }

  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc != CURLE_OK) {
    r.error = !t.fail_reason.empty() ? t.fail_reason : errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
    r.unreachable = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
                    rc == CURLE_COULDNT_RESOLVE_PROXY;
    r.transient = !r.aborted && t.fail_reason.empty() &&
                  (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
                   rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
                   rc == CURLE_COULDNT_CONNECT || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM ||
                   rc == CURLE_SSL_CONNECT_ERROR);
  } else {
    r.transient = r.status == 429 || r.status >= 500;
  }
  return r;
}

}  // namespace

HttpResult http_get(const std::string& url, const HttpOptions& opt, size_t max_body) {
  std::string body;
  Transfer t;
  t.sink = &body;
  t.max_body = max_body;
  HttpResult r = perform(url, opt, t, on_body_get, "");
  r.body = std::move(body);
  return r;
}

HttpResult http_head(const std::string& url, const HttpOptions& opt) {
  std::string body;
  Transfer t;
  t.sink = &body;
  t.max_body = 0;
  return perform(url, opt, t, on_body_get, "", /*head=*/true);
}

HttpResult http_download(const std::string& url, const HttpOptions& opt, FILE* out, int64_t offset,
                         const std::function<bool(size_t)>& on_bytes) {
  Transfer t;
  t.out = out;
  t.offset = offset;
  t.on_bytes = &on_bytes;
  HttpResult r = perform(url, opt, t, on_body_download, offset > 0 ? cat(offset, "-") : "");
  if (std::fflush(out) != 0 && r.error.empty()) r.error = "write error (disk full?)";
  return r;
}

}  // namespace qg::hub

// A small HTTP/1.1 server interface: routes with native request/response values and
// chunked streaming. The only file pair that includes an HTTP library (cpp-httplib
// from Debian, behind a pimpl), so the library can be swapped without touching the
// routes. Every handler runs on one of the server's connection threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qg::server {

struct HttpRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  std::string remote;  // "addr:port"
  // True once the client has closed its end of the connection (polls the socket;
  // cheap, callable from the handler or a streaming producer on the same thread).
  std::function<bool()> client_gone;

  // Case-insensitive header lookup; "" when absent.
  std::string header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Streaming (SSE): when set, the response is sent chunked and `stream` produces the
  // body after the headers are out; write() returns false once the client is gone.
  std::function<void(const std::function<bool(std::string_view)>& write)> stream;
  int64_t log_tokens = 0;  // for the access log line (not sent)
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpConfig {
  std::string host = "127.0.0.1";
  int port = 8000;               // 0: any free port (see bound_port())
  int threads = 64;              // connection threads: the most clients served at once
  int read_timeout_s = 10;       // a client slower than this per read is dropped
  int write_timeout_s = 10;
  int keep_alive_timeout_s = 5;  // idle keep-alive connections are closed after this
  int keep_alive_max = 100;      // requests per connection
  size_t max_body_bytes = 4u << 20;  // larger bodies get 413 before they are read
};

class HttpServer {
 public:
  explicit HttpServer(const HttpConfig& cfg);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void route(const std::string& method, const std::string& path, HttpHandler handler);
  // Called for every unknown path/method and for library-level failures (413, 400):
  // the handler gets the status the library chose and fills the body.
  void set_error_handler(std::function<void(const HttpRequest&, HttpResponse&)> handler);
  // Called after each response (not for streamed bodies' end): status and milliseconds.
  void set_logger(std::function<void(const HttpRequest&, int status, double ms)> logger);

  // Binds (throws qg::Error naming host:port on failure); returns the bound port.
  int bind();
  // Serves until stop(); then finishes the requests already accepted and returns.
  void serve();
  // Thread-safe, callable from any thread: stop accepting, let serve() drain.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::server

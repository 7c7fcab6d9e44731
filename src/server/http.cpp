// HttpServer on cpp-httplib 0.11 (Debian's libcpp-httplib-dev; see http.h).
//
// Graceful stop: the listening socket is shut down (see Listener); the thread pool
// serves every connection already accepted before listen returns, so every request
// whose connection was accepted gets its answer. While draining, responses carry
// "Connection: close" (the router adds it) so keep-alive clients move elsewhere.
//
// client_gone: httplib 0.11 does not expose a request's socket, so the first call
// finds it once among this process's descriptors by matching the connection's two
// ports (getsockname/getpeername), then polls it: POLLRDHUP/POLLHUP, or readable with
// zero bytes to peek, means the peer closed.
#include "server/http.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <httplib.h>

#include "base/error.h"

namespace qg::server {

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i) eq = std::tolower(static_cast<unsigned char>(k[i])) ==
                                                      std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return v;
  }
  return "";
}

namespace {

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

int find_socket(int local_port, int remote_port) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage a{}, b{};
    socklen_t la = sizeof a, lb = sizeof b;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &la) != 0) continue;
    if (port_of(a) != local_port) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&b), &lb) != 0) continue;
    if (port_of(b) == remote_port) {
      found = fd;
      break;
    }
  }
  closedir(d);
  return found;
}

bool socket_closed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

HttpRequest to_native(const httplib::Request& r) {
  HttpRequest n;
  n.method = r.method;
  n.path = r.path;
  for (const auto& [k, v] : r.headers) n.headers.emplace_back(k, v);
  n.body = r.body;
  n.remote = r.remote_addr + ":" + std::to_string(r.remote_port);
  const int lp = r.local_port, rp = r.remote_port;
  auto fd = std::make_shared<int>(-2);
  n.client_gone = [fd, lp, rp] {
    if (*fd == -2) *fd = find_socket(lp, rp);
    return *fd >= 0 && socket_closed(*fd);
  };
  return n;
}

void apply(const HttpResponse& n, httplib::Response& r) {
  r.status = n.status;
  for (const auto& [k, v] : n.headers) r.set_header(k, v);
  if (n.stream) {
    auto producer = n.stream;
    r.set_chunked_content_provider(n.content_type, [producer](size_t, httplib::DataSink& sink) {
      bool ok = true;
      producer([&](std::string_view data) {
        if (!ok) return false;
        ok = sink.write(data.data(), data.size());
        return ok;
      });
      if (ok) sink.done();
      return ok;
    });
  } else {
    r.set_content(n.body, n.content_type);
  }
}

}  // namespace

// Stops accepting without httplib's stop(): stop() marks the listening socket invalid,
// and httplib 0.11 then drops, unread, every accepted connection still queued for a
// worker thread. shutdown() on the listening socket instead makes accept() fail, the
// accept loop exits, and the pool drains its queue serving each of those connections.
class Listener : public httplib::Server {
 public:
  void stop_accepting() {
    const socket_t s = svr_sock_;
    if (s != INVALID_SOCKET) ::shutdown(s, SHUT_RDWR);
  }
};

struct HttpServer::Impl {
  HttpConfig cfg;
  Listener svr;
  std::function<void(const HttpRequest&, HttpResponse&)> on_error;
  std::function<void(const HttpRequest&, int, double)> logger;
};

HttpServer::HttpServer(const HttpConfig& cfg) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  auto& s = impl_->svr;
  const size_t threads = static_cast<size_t>(std::max(1, cfg.threads));
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(cfg.read_timeout_s, 0);
  s.set_write_timeout(cfg.write_timeout_s, 0);
  s.set_keep_alive_timeout(cfg.keep_alive_timeout_s);
  s.set_keep_alive_max_count(static_cast<size_t>(std::max(1, cfg.keep_alive_max)));
  s.set_payload_max_length(cfg.max_body_bytes);
  s.set_tcp_nodelay(true);
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    // httplib calls this for every status >= 400, including the routes' own error
    // responses: those already carry their envelope.
    if (!impl_->on_error || !res.body.empty()) return;
    HttpRequest n = to_native(req);
    HttpResponse out;
    out.status = res.status;
    impl_->on_error(n, out);
    apply(out, res);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(R"({"error":{"message":"internal error","type":"server_error","param":null,"code":null}})",
                    "application/json");
  });
}

HttpServer::~HttpServer() = default;

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler handler) {
  auto wrapped = [this, handler](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpRequest n = to_native(req);
    HttpResponse out = handler(n);
    apply(out, res);
    if (impl_->logger)
      impl_->logger(n, out.status,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  };
  if (method == "GET") impl_->svr.Get(path, wrapped);
  else if (method == "POST") impl_->svr.Post(path, wrapped);
  else if (method == "DELETE") impl_->svr.Delete(path, wrapped);
  else QG_CHECK(false, "unsupported method ", method);
}

void HttpServer::set_error_handler(std::function<void(const HttpRequest&, HttpResponse&)> handler) {
  impl_->on_error = std::move(handler);
}

void HttpServer::set_logger(std::function<void(const HttpRequest&, int, double)> logger) {
  impl_->logger = std::move(logger);
}

int HttpServer::bind() {
  auto& s = impl_->svr;
  if (impl_->cfg.port == 0) {
    const int p = s.bind_to_any_port(impl_->cfg.host);
    if (p <= 0) fail("serve: cannot bind ", impl_->cfg.host, " (any port)");
    return p;
  }
  if (!s.bind_to_port(impl_->cfg.host, impl_->cfg.port))
    fail("serve: cannot bind ", impl_->cfg.host, ":", impl_->cfg.port, " (in use, or not an address of this host)");
  return impl_->cfg.port;
}

void HttpServer::serve() { impl_->svr.listen_after_bind(); }

void HttpServer::stop() { impl_->svr.stop_accepting(); }

}  // namespace qg::server

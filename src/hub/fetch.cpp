// Parallel, resumable, verified downloads into the cache (see fetch.h).
//
// One file: take the blob's lock (another process may be fetching it), append to
// blobs/<etag>.incomplete from where it stops (Range: bytes=N-), retry cut or stalled
// transfers with backoff, then check the size and the digest the hub published, and
// only then rename to blobs/<etag> and link the snapshot path. A file that fails a
// check is deleted: nothing unverified is ever under a name huggingface_hub trusts.
#include "hub/fetch.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "hub/digest.h"
#include "hub/hub_id.h"

namespace qg::hub {
namespace {

using Clock = std::chrono::steady_clock;

// flock() on <cache>/.locks/.../<etag>.lock for the life of the object.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(path.string(), ": cannot open the lock file");
    if (::flock(fd_, LOCK_EX) != 0) fail(path.string(), ": cannot lock");
  }
  ~BlobLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

// Shared by the workers of one fetch_files call.
struct Shared {
  const FetchJob* job = nullptr;
  std::atomic<int64_t> bytes_done{0};
  std::atomic<int64_t> bytes_transferred{0};
  std::atomic<int> files_done{0};
  std::atomic<int> files_transferred{0};
  std::atomic<bool> stop{false};
  std::mutex log_mu;
  std::exception_ptr first_error;
  void log(const std::string& line) {
    if (!job->opt->log) return;
    std::lock_guard<std::mutex> lock(log_mu);
    job->opt->log(line);
  }
};

void fetch_one(Shared& sh, const RemoteFile& f) {
  const FetchJob& job = *sh.job;
  const RepoCache& cache = *job.cache;
  const fs::path blob = cache.blob(f.etag);
  std::error_code ec;
  auto have_blob = [&] { return fs::is_regular_file(blob, ec) && (f.size < 0 || static_cast<int64_t>(fs::file_size(blob, ec)) == f.size); };
  if (have_blob()) {  // verified when it was placed, by us or by huggingface_hub
    cache.link(job.commit, f.path, f.etag);
    sh.bytes_done += std::max<int64_t>(f.size, 0);
    ++sh.files_done;
    return;
  }
  BlobLock lock(cache.lock_file(f.etag));
  if (have_blob()) {  // another process finished it while we waited for the lock
    cache.link(job.commit, f.path, f.etag);
    sh.bytes_done += std::max<int64_t>(f.size, 0);
    ++sh.files_done;
    return;
  }
  const fs::path part = cache.incomplete(f.etag);
  fs::create_directories(part.parent_path());
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(part.c_str(), "ab"), &std::fclose);
  if (!out) fail(part.string(), ": cannot open for writing");
  std::fseek(out.get(), 0, SEEK_END);
  int64_t offset = std::ftell(out.get());
  if (f.size >= 0 && offset > f.size) {  // longer than the file: not ours to resume
    if (ftruncate(fileno(out.get()), 0) != 0) fail(part.string(), ": cannot truncate");
    std::fseek(out.get(), 0, SEEK_SET);
    offset = 0;
  }
  sh.bytes_done += offset;
  const std::string url =
      cat(job.endpoint, "/", job.repo, "/resolve/", job.commit, "/", quote_path(f.path));
  sh.log(offset > 0 ? cat("resuming ", f.path, " at ", human_bytes(offset), " of ", human_bytes(f.size))
                    : cat("downloading ", f.path, " (", human_bytes(f.size), ")"));
  const auto t0 = Clock::now();
  int64_t transferred = 0;
  bool oversize = false;  // a server may not send more than it listed (disk-filling)
  const std::function<bool(size_t)> on_bytes = [&](size_t n) {
    sh.bytes_done += static_cast<int64_t>(n);
    if (f.size >= 0 && std::ftell(out.get()) > f.size) oversize = true;
    return !oversize && !sh.stop.load();
  };
  for (int attempt = 0;; ++attempt) {
    if (f.size >= 0 && offset == f.size) break;
    HttpResult r = http_download(url, job.http, out.get(), offset, on_bytes);
    transferred += r.written;
    if (r.restarted) sh.bytes_done -= offset;
    offset = std::ftell(out.get());
    if (oversize) {
      out.reset();
      std::error_code rm;
      fs::remove(part, rm);
      fail(job.repo, ": ", f.path, ": the server sent more than the ", f.size, " bytes it listed; the file "
           "was deleted, not placed in the cache");
    }
    if (r.aborted || sh.stop) fail(f.path, ": stopped (another file failed)");
    if (r.error.empty() && (r.status == 200 || r.status == 206)) break;
    if (r.error.empty() && r.status >= 400 && !r.transient)
      fail_http(r, cat(job.repo, ": ", f.path), job.endpoint, job.repo, !job.http.token.empty());
    const std::string why = !r.error.empty() ? r.error : cat("HTTP ", r.status);
    if (!r.transient || attempt >= job.opt->max_retries) {
      if (r.unreachable)
        fail(job.repo, ": ", f.path, ": cannot reach ", job.endpoint, " (", why,
             "). Check the network or HF_ENDPOINT; the partial file is kept and resumed next time");
      fail(job.repo, ": ", f.path, ": download failed after ", attempt + 1, " attempt(s): ", why,
           ". Run the command again: it resumes from byte ", offset);
    }
    const int delay_ms = std::min(8000, 250 << attempt);
    sh.log(cat(f.path, ": ", why, "; retrying in ", delay_ms / 1000.0, " s from byte ", offset));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
  out.reset();

  const auto actual = static_cast<int64_t>(fs::file_size(part, ec));
  auto refuse = [&](const std::string& what) {
    fs::remove(part, ec);
    fail(job.repo, ": ", f.path, ": ", what,
         "; the file was deleted, not placed in the cache. Run the command again; if it keeps "
         "failing, the server at ", job.endpoint, " serves damaged data");
  };
  if (f.size >= 0 && actual != f.size) refuse(cat("size mismatch: got ", actual, " bytes, the hub lists ", f.size));
  const std::string digest = f.lfs ? sha256_file(part) : git_blob_sha1_file(part);
  if (digest != f.etag)
    refuse(cat("checksum mismatch: ", f.lfs ? "sha256 " : "git blob sha1 ", digest, ", the hub lists ", f.etag));
  fs::rename(part, blob, ec);
  if (ec) fail(blob.string(), ": cannot place the downloaded file: ", ec.message());
  cache.link(job.commit, f.path, f.etag);
  ++sh.files_done;
  ++sh.files_transferred;
  sh.bytes_transferred += transferred;
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  sh.log(cat("done ", f.path, " (", human_bytes(actual), " in ", static_cast<int64_t>(s * 10) / 10.0, " s)"));
}

}  // namespace

std::string human_bytes(int64_t n) {
  if (n < 0) return "? B";
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

FetchStats fetch_files(const FetchJob& job, const std::vector<RemoteFile>& files) {
  Shared sh;
  sh.job = &job;
  int64_t total = 0;
  for (const auto& f : files) total += std::max<int64_t>(f.size, 0);
  std::atomic<size_t> next{0};
  const auto t0 = Clock::now();
  auto worker = [&] {
    for (size_t i; (i = next++) < files.size() && !sh.stop;) {
      try {
        fetch_one(sh, files[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(sh.log_mu);
        if (!sh.first_error) sh.first_error = std::current_exception();
        sh.stop = true;
      }
    }
  };
  const int n_threads = std::max(1, std::min<int>(job.opt->jobs, static_cast<int>(files.size())));
  std::atomic<bool> finished{false};
  auto report = [&] {
    if (!job.opt->progress) return;
    Progress p;
    p.bytes_done = std::min(sh.bytes_done.load(), total);
    p.bytes_total = total;
    p.files_done = sh.files_done;
    p.files_total = static_cast<int>(files.size());
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    job.opt->progress(p);
  };
  std::thread reporter([&] {
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!finished) report();
    }
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < n_threads; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  finished = true;
  reporter.join();
  if (sh.first_error) std::rethrow_exception(sh.first_error);
  report();
  return {sh.files_transferred.load(), sh.bytes_transferred.load()};
}

[[noreturn]] void fail_http(const HttpResult& r, const std::string& what, const std::string& endpoint,
                            const std::string& repo, bool has_token) {
  const std::string code = r.header("x-error-code");
  std::string server = r.header("x-error-message");
  if (server.size() > 300) server.resize(300);
  for (auto& c : server)  // a server's words reach a terminal: no escape sequences
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  const std::string said = server.empty() ? "" : cat(" (the hub says: ", server, ")");
  const std::string page = cat(endpoint, "/", repo);
  if (code == "GatedRepo" || ((r.status == 401 || r.status == 403) && code.empty())) {
    if (has_token)
      fail(what, ": HTTP ", r.status, ": access refused", said, ". The repository is gated or private and "
           "your token does not grant access: open ", page, " with that account, accept the conditions, "
           "and check that HF_TOKEN is a token of that account");
    fail(what, ": HTTP ", r.status, ": the repository is gated or private", said, ". Accept its "
         "conditions at ", page, ", then set HF_TOKEN=<your token> (or save it in $HF_HOME/token; "
         "tokens: https://huggingface.co/settings/tokens)");
  }
  if (code == "RepoNotFound")
    fail(what, ": HTTP ", r.status, ": repository not found", said, ". Check the name (owner/name, as on ",
         "the hub; case matters)", has_token ? "" : "; if it is private, set HF_TOKEN");
  if (code == "RevisionNotFound")
    fail(what, ": HTTP ", r.status, ": revision not found", said, ". Check the part after '@' (a branch, tag "
         "or commit of ", repo, ")");
  if (code == "EntryNotFound" || r.status == 404)
    fail(what, ": HTTP 404: not found", said, ". Check the repository name and the file name (after ':')");
  if (r.status == 429)
    fail(what, ": HTTP 429: rate limited by the hub", said, ". Wait a minute and retry",
         has_token ? "" : "; a token (HF_TOKEN) gets higher limits");
  if (r.status >= 500)
    fail(what, ": HTTP ", r.status, ": server error", said, ". Try again later");
  fail(what, ": HTTP ", r.status, said);
}

}  // namespace qg::hub

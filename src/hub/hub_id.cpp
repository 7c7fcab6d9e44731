// Hub id parsing and the naming rules of the Hugging Face hub (see hub_id.h).
#include "hub/hub_id.h"

#include <cctype>

#include "base/error.h"

namespace qg::hub {
namespace {

bool repo_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~';
}

std::string quote(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace

std::string check_repo_part(std::string_view part) {
  if (part.empty()) return "empty owner or name";
  if (part.size() > 96) return "longer than 96 characters";
  for (char c : part)
    if (!repo_char(c)) return cat("character '", c, "' is not allowed (only A-Z a-z 0-9 . _ -)");
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
    return "cannot start or end with '-' or '.'";
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos)
    return "'--' and '..' are not allowed";
  return "";
}

std::optional<ModelSpec> parse_model_spec(std::string_view text) {
  // Shape first: anything that cannot be "owner/name[@rev][:file]" is a path, not an error.
  if (text.empty() || text.front() == '/' || text.front() == '.' || text.front() == '~')
    return std::nullopt;
  std::string_view left = text, file, revision;
  if (const auto colon = left.find(':'); colon != std::string_view::npos) {
    file = left.substr(colon + 1);
    left = left.substr(0, colon);
  }
  bool has_revision = false;
  if (const auto at = left.find('@'); at != std::string_view::npos) {
    revision = left.substr(at + 1);
    left = left.substr(0, at);
    has_revision = true;
  }
  const auto slash = left.find('/');
  if (slash == std::string_view::npos || left.find('/', slash + 1) != std::string_view::npos)
    return std::nullopt;
  for (char c : left)
    if (c != '/' && !repo_char(c)) return std::nullopt;

  const std::string_view owner = left.substr(0, slash), name = left.substr(slash + 1);
  for (const auto part : {owner, name}) {
    if (const std::string why = check_repo_part(part); !why.empty())
      fail("hub id '", text, "': '", part, "': ", why);
  }
  ModelSpec spec;
  spec.repo = std::string(left);
  spec.revision = has_revision ? std::string(revision) : "main";
  if (has_revision) {
    if (revision.empty()) fail("hub id '", text, "': empty revision after '@'");
    if (revision.size() > 256) fail("hub id '", text, "': revision longer than 256 characters");
    if (revision.find("..") != std::string_view::npos)
      fail("hub id '", text, "': '..' is not allowed in a revision");
    for (char c : revision) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '\\')
        fail("hub id '", text, "': revision has a space, control character or backslash");
    }
  }
  if (!file.empty() || text.find(':') != std::string_view::npos) {
    if (file.empty()) fail("hub id '", text, "': empty file name after ':'");
    check_repo_path(file, cat("hub id '", text, "': file"));
    spec.file = std::string(file);
  }
  return spec;
}

bool is_commit_hash(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string quote_all(std::string_view s) { return quote(s, false); }
std::string quote_path(std::string_view s) { return quote(s, true); }

std::string repo_folder_name(std::string_view repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/')
      out += "--";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> repo_from_folder_name(std::string_view folder) {
  constexpr std::string_view kPrefix = "models--";
  if (folder.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = folder.substr(kPrefix.size());
  // Names cannot contain "--", so the first one separates owner and name. Repos
  // without an owner (legacy "gpt2") have none.
  const auto sep = rest.find("--");
  if (sep == std::string_view::npos) return rest.empty() ? std::nullopt : std::optional(std::string(rest));
  return cat(rest.substr(0, sep), "/", rest.substr(sep + 2));
}

void check_repo_path(std::string_view path, std::string_view what) {
  if (path.empty()) fail(what, ": empty path");
  if (path.size() > 1024) fail(what, ": path longer than 1024 bytes");
  if (path.front() == '/') fail(what, " '", path, "': absolute path");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f || c == '\\')
      fail(what, " '", path, "': control character or backslash");
  }
  size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const std::string_view comp = path.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..")
      fail(what, " '", path, "': empty, '.' or '..' path component");
    start = end + 1;
  }
}

}  // namespace qg::hub

// JSONL batch driver (see batch.h).
#include "guard/batch.h"

#include "base/error.h"

namespace qg::guard {

BatchStats run_batch(Classifier& clf, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress) {
  BatchStats st;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++st.records;
    const std::string where = cat(opt.source_name, ":", n);
    try {
      const InputRecord rec = parse_input_record(line, where);
      Result r = clf.classify(rec.conversation, opt.classify);
      apply_policy(opt.policy, r);
      JsonOptions jo;
      jo.line = n;
      jo.id_json = rec.id_json;
      jo.include_ids = opt.include_ids;
      out << result_to_json(r, jo) << '\n';
      out.flush();
      ++st.ok;
      st.flagged += r.flagged;
      st.failing += fails(opt.fail_on, r);
    } catch (const Error& e) {
      // Input errors name the line already; model errors get it prefixed.
      std::string msg = e.what();
      if (msg.rfind(where, 0) != 0) msg = where + ": " + msg;
      out << error_to_json(n, msg) << '\n';
      out.flush();
      ++st.bad;
      warn(msg);
      if (opt.strict_input) fail(msg, " (--strict-input: stopping)");
    }
    progress(st.records);
  }
  return st;
}

}  // namespace qg::guard

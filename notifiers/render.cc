#include "notifiers/render.h"

#include <ctime>
#include <fstream>
#include <sstream>

#include "bus/event.h"

namespace ehabus::notifiers {
namespace {

std::string Replace(std::string text, const std::string& name,
                    const std::string& value) {
  std::string key = "{{" + name + "}}";
  for (std::size_t at = 0; (at = text.find(key, at)) != std::string::npos;) {
    text.replace(at, key.size(), value);
    at += value.size();
  }
  return text;
}

std::string Clock(std::int64_t wall_us, const char* format) {
  std::time_t t = static_cast<std::time_t>(wall_us / 1'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// One line per entry; untrusted text kept to one line each.
std::string OneLine(std::string text) {
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (text.size() > 400) text = text.substr(0, 400) + "...";
  return text;
}

struct Words {
  const char* ongoing;
  const char* healed;
  const char* failed_over;
  const char* recovered;
  const char* escalated;
  const char* moved;
  const char* not_moved;
  const char* moved_here;
  const char* suppressed;
  const char* more;
  const char* none;
};

const Words& WordsFor(const std::string& language) {
  static const Words en = {"ongoing",
                           "healed",
                           "failed over",
                           "recovered",
                           "escalated",
                           "Failover requested: the cluster moves the mail "
                           "service to the other node.",
                           "No failover: the mail service stayed on this node.",
                           "Failover: Pacemaker moved the mail service to "
                           "this node.",
                           " similar incidents were not mailed since the last "
                           "message.",
                           " more events not listed.",
                           "none"};
  static const Words zh = {"处理中",
                           "已自动修复",
                           "已切换",
                           "已恢复",
                           "已升级处理",
                           "已请求切换：集群将邮件服务迁移到另一台节点。",
                           "未切换：邮件服务仍在本节点运行。",
                           "已切换：Pacemaker 已将邮件服务迁移到本节点。",
                           " 次相同事件自上封邮件后未再发送。",
                           " 条事件未列出。",
                           "无"};
  return language == "zh" ? zh : en;
}

}  // namespace

Result<Template> LoadTemplate(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(path + ": cannot read the template");
  std::string first;
  std::getline(in, first);
  if (!first.starts_with("Subject: "))
    return Fail(path + ":1: the first line must be \"Subject: ...\"");
  Template t;
  t.subject = first.substr(9);
  std::string line;
  if (std::getline(in, line) && !line.empty())
    return Fail(path + ":2: a blank line must follow the subject");
  std::stringstream rest;
  rest << in.rdbuf();
  t.body = rest.str();
  return t;
}

MailText Render(const Template& tmpl, const nlohmann::json& incident,
                const std::string& customer, const std::string& language) {
  const Words& w = WordsFor(language);
  std::string status = incident.value("status", "ongoing");
  std::string status_text = status == "healed"        ? w.healed
                            : status == "failed over" ? w.failed_over
                            : status == "recovered"   ? w.recovered
                            : status == "escalated"   ? w.escalated
                                                      : w.ongoing;
  std::string what;
  for (const auto& x : incident.value("what", nlohmann::json::array()))
    what += (what.empty() ? "" : ", ") + x.get<std::string>();
  std::string actions;
  for (const auto& a : incident.value("actions", nlohmann::json::array()))
    actions += "  - " + OneLine(a.get<std::string>()) + "\n";
  if (actions.empty()) actions = std::string("  - ") + w.none + "\n";
  if (auto dropped = incident.value("actions_dropped", 0); dropped > 0)
    actions += "  ... " + std::to_string(dropped) + w.more + "\n";
  std::string timeline;
  for (const auto& e : incident.value("timeline", nlohmann::json::array())) {
    timeline += "  " + Clock(e.value("wall_us", std::int64_t{0}), "%H:%M:%S") +
                "  " + OneLine(e.value("topic", "")) + "  " +
                OneLine(e.value("message", "")) + "\n";
  }
  if (auto dropped = incident.value("timeline_dropped", 0); dropped > 0)
    timeline += "  ... " + std::to_string(dropped) + w.more + "\n";
  std::string suppressed;
  if (auto n = incident.value("similar_suppressed", 0); n > 0)
    suppressed = std::to_string(n) + w.suppressed + "\n";
  std::string still;
  for (const auto& x : incident.value("still_wrong", nlohmann::json::array()))
    still += (still.empty() ? "" : ", ") + x.get<std::string>();
  std::string where = incident.value("vip", "");
  MailText out;
  auto fill = [&](std::string text) {
    text = Replace(text, "customer", OneLine(customer));
    text = Replace(text, "node", OneLine(incident.value("node", "")));
    text = Replace(text, "date",
                   Clock(incident.value("opened_us", std::int64_t{0}),
                         "%Y-%m-%d %H:%M:%S %Z"));
    text = Replace(text, "status", status_text);
    text = Replace(text, "what", OneLine(what));
    text = Replace(text, "actions", actions);
    text = Replace(text, "timeline", timeline);
    text = Replace(text, "failover",
                   incident.value("failed_over", false)  ? w.moved
                   : incident.value("moved_here", false) ? w.moved_here
                                                         : w.not_moved);
    text = Replace(text, "where", OneLine(where.empty() ? w.none : where));
    text =
        Replace(text, "still_wrong", OneLine(still.empty() ? w.none : still));
    text = Replace(text, "suppressed", suppressed);
    return text;
  };
  out.subject = fill(tmpl.subject);
  out.body = fill(tmpl.body);
  return out;
}

std::string HeaderValue(const std::string& text, std::size_t max) {
  std::string clean;
  bool ascii = true;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      clean += ' ';
    } else {
      if (u >= 0x80) ascii = false;
      clean += c;
    }
  }
  if (clean.size() > max) {
    std::size_t cut = max;
    // Not in the middle of a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xc0) == 0x80)
      --cut;
    clean.resize(cut);
  }
  if (ascii) return clean;
  // RFC 2047: encoded words of at most 75 characters, split at UTF-8
  // boundaries, folded onto continuation lines.
  std::string out;
  std::size_t at = 0;
  while (at < clean.size()) {
    std::size_t n = std::min<std::size_t>(45, clean.size() - at);
    while (at + n < clean.size() &&
           (static_cast<unsigned char>(clean[at + n]) & 0xc0) == 0x80)
      --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64(clean.substr(at, n)) + "?=";
    at += n;
  }
  return out;
}

std::string Base64(const std::string& data) {
  static const char* table =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16 |
                 static_cast<unsigned char>(data[i + 1]) << 8 |
                 static_cast<unsigned char>(data[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16 |
                 static_cast<unsigned char>(data[i + 1]) << 8;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string BuildMessage(
    const std::string& from, const std::vector<std::string>& to,
    const MailText& text, const std::string& message_id,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string more;
  for (const auto& [name, value] : extra)
    more += name + ": " + HeaderValue(value, 200) + "\r\n";
  std::string recipients;
  for (const auto& r : to) recipients += (recipients.empty() ? "" : ", ") + r;
  char date[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
  std::string body64 = Base64(text.body);
  std::string wrapped;
  for (std::size_t i = 0; i < body64.size(); i += 76)
    wrapped += body64.substr(i, 76) + "\r\n";
  return "From: " + HeaderValue(from) +
         "\r\nTo: " + HeaderValue(recipients, 900) +
         "\r\nSubject: " + HeaderValue(text.subject) + "\r\nDate: " + date +
         "\r\nMessage-ID: <" + HeaderValue(message_id, 100) +
         ">\r\nMIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=UTF-8\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "Auto-Submitted: auto-generated\r\n" +
         more + "\r\n" + wrapped;
}

}  // namespace ehabus::notifiers

// Turning an incident into a mail: templates with {{name}} placeholders
// (English and Chinese shipped in etc/notify/), header values made safe
// (no CR, LF or control characters from events can add a header; non-ASCII
// words RFC 2047-encoded), the body base64-encoded UTF-8 (no line of an
// event can end the DATA phase or break the line limit).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace ehabus::notifiers {

struct Template {
  std::string subject;  // the first line, after "Subject: "
  std::string body;     // the rest
};

// Reads PATH: "Subject: ..." on the first line, a blank line, the body.
Result<Template> LoadTemplate(const std::string& path);

struct MailText {
  std::string subject, body;
};

// Fills TEMPLATE from INCIDENT (notifiers/incident.h) and CUSTOMER.
MailText Render(const Template& tmpl, const nlohmann::json& incident,
                const std::string& customer, const std::string& language);

// A header value: control characters replaced by spaces, cut to MAX bytes
// (at a UTF-8 boundary), RFC 2047 encoded when not plain ASCII.
std::string HeaderValue(const std::string& text, std::size_t max = 200);

// The whole message: headers (From, To, Subject, Date, Message-ID, MIME,
// then EXTRA, each value made safe by HeaderValue) and the base64 body,
// CRLF line ends.
std::string BuildMessage(
    const std::string& from, const std::vector<std::string>& to,
    const MailText& text, const std::string& message_id,
    const std::vector<std::pair<std::string, std::string>>& extra = {});

std::string Base64(const std::string& data);

}  // namespace ehabus::notifiers

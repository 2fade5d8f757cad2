#include "bus/event.h"

#include <gtest/gtest.h>

namespace ehabus {
namespace {

Event Sample() {
  Event e;
  e.topic = "service.smtp";
  e.node = "mail1";
  e.source = {"sensor-service", 4242, 1764031187000000};
  e.seq = 17;
  e.wall_us = 1764031187123456;
  e.mono_ns = 987654321;
  e.kind = Kind::kState;
  e.severity = Severity::kError;
  e.subject = "smtp";
  e.message = "smtp 127.0.0.1:25: \"421 4.3.2 shutting down\" after EHLO";
  e.data = {{"latency_ms", 3}, {"reason", "421"}};
  return e;
}

// The body of Sample() with one field replaced (or removed when VALUE is
// discarded), for reject tests.
std::string BodyWith(const std::string& field, nlohmann::json value) {
  auto body = nlohmann::json::parse(Encode(Sample()).body);
  if (value.is_discarded()) {
    body.erase(field);
  } else {
    body[field] = std::move(value);
  }
  return body.dump();
}

std::string RejectOf(std::string_view topic, std::string_view body) {
  auto r = Decode(topic, body);
  EXPECT_FALSE(r) << "accepted: " << body;
  return r ? "" : r.error().message;
}

TEST(EventTest, RoundTripKeepsEveryField) {
  Event e = Sample();
  Encoded wire = Encode(e);
  EXPECT_EQ(wire.topic, "service.smtp");
  auto back = Decode(wire.topic, wire.body);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
}

TEST(EventTest, RoundTripOfEveryKindAndSeverity) {
  for (auto kind : {Kind::kEvent, Kind::kState}) {
    for (int s = 0; s <= static_cast<int>(Severity::kCritical); ++s) {
      Event e = Sample();
      e.kind = kind;
      e.severity = static_cast<Severity>(s);
      auto back = Decode(e.topic, Encode(e).body);
      ASSERT_TRUE(back);
      EXPECT_EQ(back->kind, kind);
      EXPECT_EQ(back->severity, e.severity);
    }
  }
}

TEST(EventTest, UnicodeTextSurvives) {
  Event e = Sample();
  e.message = "邮件服务 smtp 已恢复";
  auto back = Decode(e.topic, Encode(e).body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->message, e.message);
}

TEST(EventTest, InvalidUtf8InDataIsReplacedNotThrown) {
  Event e = Sample();
  e.data = {{"banner", std::string("220 \xff\xfe mail")}};
  auto back = Decode(e.topic, Encode(e).body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data["banner"], "220 \xEF\xBF\xBD\xEF\xBF\xBD mail");
}

TEST(EventTest, TopicsAreDotSeparatedLowercaseWords) {
  EXPECT_TRUE(ValidTopic("service.smtp"));
  EXPECT_TRUE(ValidTopic("storage.maildata"));
  EXPECT_TRUE(ValidTopic("healing.mysql_index"));
  EXPECT_TRUE(ValidTopic("a"));
  EXPECT_FALSE(ValidTopic(""));
  EXPECT_FALSE(ValidTopic(".service"));
  EXPECT_FALSE(ValidTopic("service."));
  EXPECT_FALSE(ValidTopic("service..smtp"));
  EXPECT_FALSE(ValidTopic("Service.smtp"));
  EXPECT_FALSE(ValidTopic("service smtp"));
  EXPECT_FALSE(ValidTopic("service/smtp"));
  EXPECT_FALSE(ValidTopic(std::string(129, 'a')));
  EXPECT_TRUE(ValidTopic(std::string(128, 'a')));
}

TEST(EventTest, RejectsNonJson) {
  EXPECT_EQ(RejectOf("service.smtp", "not json"),
            "topic \"service.smtp\": body is not JSON: Problem while parsing "
            "an atom starting with the letter 'n'");
  EXPECT_EQ(
      RejectOf("service.smtp", "{\"v\":1,"),
      "topic \"service.smtp\": body is not JSON: The JSON document has an "
      "improper structure: missing or superfluous commas, braces, "
      "missing keys, etc.");
  EXPECT_EQ(RejectOf("service.smtp", ""),
            "topic \"service.smtp\": body is not JSON: Empty: no JSON found");
}

TEST(EventTest, RejectsNonObject) {
  EXPECT_EQ(RejectOf("service.smtp", "[1,2]"),
            "topic \"service.smtp\": body is not a JSON object");
}

TEST(EventTest, RejectsEachMissingField) {
  for (std::string field :
       {"v", "topic", "node", "source", "seq", "wall_us", "mono_ns", "kind",
        "severity", "subject", "message", "data"}) {
    EXPECT_EQ(
        RejectOf("service.smtp",
                 BodyWith(field,
                          nlohmann::json(nlohmann::json::value_t::discarded))),
        "topic \"service.smtp\": field \"" + field + "\": missing");
  }
}

TEST(EventTest, RejectsWrongTypes) {
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("seq", "17")),
            "topic \"service.smtp\": field \"seq\": expected an integer");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("seq", 0)),
            "topic \"service.smtp\": field \"seq\": must be at least 1");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("seq", -5)),
            "topic \"service.smtp\": field \"seq\": must be at least 1");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("seq", 1.5)),
            "topic \"service.smtp\": field \"seq\": expected an integer");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("message", 42)),
            "topic \"service.smtp\": field \"message\": expected a string");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("data", "x")),
            "topic \"service.smtp\": field \"data\": expected an object");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("kind", "news")),
            "topic \"service.smtp\": field \"kind\": expected \"event\" or "
            "\"state\"");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("severity", "fatal")),
            "topic \"service.smtp\": field \"severity\": expected debug, info, "
            "notice, "
            "warning, error or critical");
  EXPECT_EQ(
      RejectOf("service.smtp", BodyWith("v", 2)),
      "topic \"service.smtp\": field \"v\": unsupported schema version 2");
  EXPECT_EQ(RejectOf("service.smtp",
                     BodyWith("source", {{"component", "x"}, {"pid", 1}})),
            "topic \"service.smtp\": field \"source\": expected "
            "{\"component\", \"pid\", "
            "\"started_us\"}");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("source", {{"component", "x"},
                                                         {"pid", 0},
                                                         {"started_us", 0}})),
            "topic \"service.smtp\": field \"source.pid\": expected a positive "
            "integer");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("node", "mail 1")),
            "topic \"service.smtp\": field \"node\": not a host name");
}

TEST(EventTest, RejectsDuplicateFields) {
  // nlohmann would keep the last "seq"; a duplicate is ambiguous: reject it.
  std::string body = Encode(Sample()).body;
  body.insert(body.size() - 1, ",\"seq\":99");
  EXPECT_EQ(RejectOf("service.smtp", body),
            "topic \"service.smtp\": field \"seq\": duplicate field");
}

TEST(EventTest, RejectsUnknownField) {
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("extra", 1)),
            "topic \"service.smtp\": field \"extra\": unknown field");
}

TEST(EventTest, RejectsTopicMismatchAndBadTopics) {
  EXPECT_EQ(
      RejectOf("service.pop", Encode(Sample()).body),
      "topic \"service.pop\": field \"topic\": differs from the topic frame: "
      "\"service.smtp\"");
  EXPECT_EQ(
      RejectOf("Bad Topic", "{}"),
      "topic \"Bad Topic\": not a topic (dot-separated words of a-z 0-9 _ -)");
  EXPECT_EQ(RejectOf(std::string("a\nb\x01"), "{}"),
            "topic \"a\\x0ab\\x01\": not a topic (dot-separated words of a-z "
            "0-9 _ -)");
}

TEST(EventTest, RejectsControlCharactersInText) {
  // A CR/LF in a message could forge a mail header or a log line downstream.
  EXPECT_EQ(RejectOf("service.smtp",
                     BodyWith("message", "ok\r\nBcc: victim@example.org")),
            "topic \"service.smtp\": field \"message\": control character");
  EXPECT_EQ(RejectOf("service.smtp", BodyWith("subject", "a\tb")),
            "topic \"service.smtp\": field \"subject\": control character");
}

TEST(EventTest, RejectsOversizedMessages) {
  std::string body =
      BodyWith("data", {{"blob", std::string(kMaxEventBytes, 'x')}});
  EXPECT_EQ(RejectOf("service.smtp", body),
            "topic \"service.smtp\": message of " +
                std::to_string(body.size() + 12) +
                " bytes exceeds the limit of 65536");
  EXPECT_EQ(
      RejectOf("service.smtp", BodyWith("message", std::string(4097, 'x'))),
      "topic \"service.smtp\": field \"message\": length 4097 not in [0, "
      "4096]");
}

TEST(EventTest, RejectsDeepNestingBeforeParsing) {
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_EQ(RejectOf("service.smtp", "{\"data\":" + deep + "}"),
            "topic \"service.smtp\": body nested deeper than 16");
  // Brackets inside strings do not count.
  Event e = Sample();
  e.message = std::string(100, '[');
  EXPECT_TRUE(Decode(e.topic, Encode(e).body));
}

TEST(EventTest, RejectsInvalidUtf8InBody) {
  std::string body = Encode(Sample()).body;
  auto at = body.find("shutting");
  body[at] = '\xff';
  EXPECT_EQ(RejectOf("service.smtp", body),
            "topic \"service.smtp\": body is not JSON: The input is not valid "
            "UTF-8");
}

TEST(EventTest, QuoteEscapesAndCuts) {
  EXPECT_EQ(Quote("ok"), "\"ok\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string(70, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

TEST(EventTest, SeverityNamesParseBack) {
  for (int s = 0; s <= static_cast<int>(Severity::kCritical); ++s) {
    auto severity = static_cast<Severity>(s);
    EXPECT_EQ(ParseSeverity(ToString(severity)), severity);
  }
  EXPECT_FALSE(ParseSeverity("fatal"));
  EXPECT_LT(Severity::kWarning, Severity::kError);
}

}  // namespace
}  // namespace ehabus

// Fuzz target for the event decoder: the first line of the input is the
// topic frame, the rest the body. Whatever is accepted must survive an
// encode/decode round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bus/event.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  std::string_view topic = input.substr(0, newline);
  std::string_view body =
      newline == std::string_view::npos ? "" : input.substr(newline + 1);
  auto event = ehabus::Decode(topic, body);
  if (!event) return 0;
  auto wire = ehabus::Encode(*event);
  auto again = ehabus::Decode(wire.topic, wire.body);
  if (!again || !(*again == *event)) std::abort();
  return 0;
}

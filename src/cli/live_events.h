#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

// `keel run --follow`: the text printed for each event of GET /v1/runs/{id}/events. Journal
// events become one line each (FormatEventLine, with llm, tool and config entries summed up,
// and interrupts entries that took nothing left out);
// the live events that are not journaled are shown as they happen:
//   token    streamed model text, printed as it arrives on one "  #<seq> llm  ..." line that
//            the next other event ends;
//   attempt  a retry, fallback, open breaker or failure of a model or tool call (a first
//            attempt that succeeds says nothing new and is not shown);
//   waiting  the run parks until a provider or tool is back.
namespace keel::cli {

class LiveEventPrinter {
 public:
  // The text for one event: whole lines, except while a model's text streams.
  std::string Feed(std::string_view id, std::string_view event, const boost::json::value& data);
  // Ends a streamed line that is still open ("" when none is).
  std::string Finish();

 private:
  std::string Token(int64_t seq, std::string_view text);
  std::string Attempt(const boost::json::value& data);

  int64_t streaming_ = -1;         // seq of the llm entry whose text is being printed
  std::set<int64_t> streamed_;     // llm entries whose text was printed already
  std::set<int64_t> had_trouble_;  // entries with a retry, fallback or failure so far
};

}  // namespace keel::cli

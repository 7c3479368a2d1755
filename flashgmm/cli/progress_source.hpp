// A DataSource that draws a TerminalBar as its rows are read, for library calls that stream a
// source in one go (GaussianMixture::score). It hides contiguous() so that every chunk passes
// through read(): one extra copy of each chunk, small beside the E-step over K components, and
// used only when a bar is shown.
#pragma once

#include <algorithm>
#include <string>

#include "flashgmm/data_source.hpp"
#include "terminal_bar.hpp"

namespace flashgmm::cli {

class ProgressSource final : public DataSource {
 public:
  ProgressSource(const DataSource& inner, TerminalBar& bar, std::string label)
      : inner_(inner), bar_(bar), label_(std::move(label)) {}
  std::int64_t rows() const override { return inner_.rows(); }
  int dim() const override { return inner_.dim(); }
  void read(std::int64_t begin, std::int64_t count, float* out) const override {
    inner_.read(begin, count, out);
    // Drawn when a chunk arrives, i.e. after the previous one was processed.
    bar_.draw((double)begin / std::max<std::int64_t>(1, rows()), label_, -1);
  }
  std::string describe() const override { return inner_.describe(); }

 private:
  const DataSource& inner_;
  TerminalBar& bar_;
  std::string label_;
};

}  // namespace flashgmm::cli

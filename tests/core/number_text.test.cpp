// The one rule by which pollard reads a number a user writes: plain decimal notation, the whole
// text. Each expected value is written out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>

#include "pollard/core/number_text.hpp"

using pollard::read_integer;
using pollard::read_real;

namespace {

// The texts no number of either kind may be written as: each breaks the rule once.
constexpr const char* not_plain_decimal[] = {"",
                                             " 5",
                                             "5 ",
                                             "\t5",
                                             "5\n",
                                             "+5",
                                             "0x10",
                                             "0X1p-1",
                                             "0x1p-1",
                                             "1_000",
                                             "1'000",
                                             "5x",
                                             "5,0",
                                             "--5",
                                             "-",
                                             "inf",
                                             "-inf",
                                             "INF",
                                             "nan",
                                             "NaN",
                                             "-nan",
                                             "nan(1)",
                                             "infinity",
                                             "Infinity",
                                             "five",
                                             "\xc2\xa0"
                                             "5",
                                             "5\xc2\xa0",
                                             "1e",
                                             "e5",
                                             ".",
                                             "1.2.3",
                                             "1e+",
                                             "1e5.0",
                                             "5-",
                                             "0b101",
                                             "0o7"};

}  // namespace

TEST_CASE("read_integer takes decimal digits after an optional '-' for signed types") {
  CHECK(read_integer<long long>("12").value == 12);
  CHECK(read_integer<long long>("-3").value == -3);
  CHECK(read_integer<long long>("0").value == 0);
  CHECK(read_integer<long long>("007").value == 7);  // leading zeros are decimal, not octal
  CHECK(read_integer<long long>("010").value == 10);
  CHECK(read_integer<long long>("-9223372036854775808").value ==
        std::numeric_limits<long long>::min());
  CHECK(read_integer<std::uint64_t>("18446744073709551615").value == 18446744073709551615ull);
  CHECK(bool(read_integer<int>("2147483647")));
}

TEST_CASE("read_integer refuses every text that is not plain decimal, and says so") {
  for (const char* text : not_plain_decimal) {
    CAPTURE(std::string(text));
    const auto x = read_integer<long long>(text);
    CHECK_FALSE(x);
    CHECK(x.error == std::errc::invalid_argument);
    CHECK(read_integer<std::uint64_t>(text).error == std::errc::invalid_argument);
  }
  // Integers take no fraction or exponent; unsigned types no sign.
  for (const char* text : {"1e3", "1E3", "1.0", "1.", ".5", "2e0"})
    CHECK(read_integer<long long>(text).error == std::errc::invalid_argument);
  CHECK(read_integer<std::uint64_t>("-1").error == std::errc::invalid_argument);
  CHECK(read_integer<std::uint64_t>("-0").error == std::errc::invalid_argument);
}

TEST_CASE("read_integer tells a number its type cannot hold from one that is malformed") {
  CHECK(read_integer<long long>("9223372036854775808").error == std::errc::result_out_of_range);
  CHECK(read_integer<long long>("-9223372036854775809").error == std::errc::result_out_of_range);
  CHECK(read_integer<std::uint64_t>("18446744073709551616").error ==
        std::errc::result_out_of_range);
  CHECK(read_integer<int>("2147483648").error == std::errc::result_out_of_range);
  CHECK(read_integer<long long>("99999999999999999999").value == 0);
  // A malformed tail wins over the size of the digits before it.
  CHECK(read_integer<long long>("99999999999999999999x").error == std::errc::invalid_argument);
}

TEST_CASE("read_real takes digits with one '.', an optional '-' and exponent") {
  CHECK(read_real("0.5").value == 0.5);
  CHECK(read_real(".5").value == 0.5);
  CHECK(read_real("5.").value == 5.0);
  CHECK(read_real("-2").value == -2.0);
  CHECK(read_real("-.25").value == -0.25);
  CHECK(read_real("1e-3").value == 0.001);
  CHECK(read_real("2.5E+04").value == 25000.0);
  CHECK(read_real("1e05").value == 100000.0);
  CHECK(read_real("010").value == 10.0);
  CHECK(read_real("0.1").value == 0.1);
  CHECK(std::signbit(read_real("-0").value));
  // Subnormal numbers are numbers a double holds.
  CHECK(read_real("5e-324").value == std::numeric_limits<double>::denorm_min());
  CHECK(read_real("1.7976931348623157e308").value == std::numeric_limits<double>::max());
}

TEST_CASE("read_real refuses every text that is not plain decimal, and says so") {
  for (const char* text : not_plain_decimal) {
    CAPTURE(std::string(text));
    const auto x = read_real(text);
    CHECK_FALSE(x);
    CHECK(x.error == std::errc::invalid_argument);
    CHECK(x.value == 0.0);
  }
}

TEST_CASE("read_real refuses a number beyond a double's range, either way") {
  for (const char* text : {"1e999", "-1e999", "1.8e308", "1e-999", "2e-324"}) {
    CAPTURE(std::string(text));
    CHECK(read_real(text).error == std::errc::result_out_of_range);
  }
}

TEST_CASE("read_real gives the double nearest to the decimal number written") {
  // Read through long double and then rounded to double, as strtold and a cast do, this text
  // ends one unit in the last place away.
  const auto x = read_real("0.63553726630136681");
  REQUIRE(x);
  CHECK(x.value == 0x1.456523fc4ea67p-1);  // strtold and a cast give 0x1.456523fc4ea66p-1
}

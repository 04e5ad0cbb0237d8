// Catch2 main shared by every test binary. Randomized tests take their seed from Catch's
// --rng-seed (printed by the tests themselves), so a failure can be replayed exactly.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

"""Publication safety shared by every published output: the privacy scan (`scan`) and
small-count suppression with complementary suppression (`suppression`)."""

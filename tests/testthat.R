library(testthat)
library(scPairing)

test_check("scPairing")

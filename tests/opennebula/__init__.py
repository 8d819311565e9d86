"""Tests of Galerna's OpenNebula mode, and the `oned` test double they run against."""

#!/bin/sh
./handoff_test
echo "rc=$?"

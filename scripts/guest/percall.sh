#!/bin/sh
./percall 20000

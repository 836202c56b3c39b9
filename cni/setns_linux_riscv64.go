package main

const sysSetns = 268

package main

const sysSetns = 339

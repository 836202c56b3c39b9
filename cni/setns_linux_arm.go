package main

const sysSetns = 375

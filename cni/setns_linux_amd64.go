package main

const sysSetns = 308

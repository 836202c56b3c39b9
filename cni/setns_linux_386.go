package main

const sysSetns = 346

package main

const sysSetns = 350

UPDATE settings SET x = 1;

CREATE TABLEX c (id int);

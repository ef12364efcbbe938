DO $$ BEGIN PERFORM 1; END $$;
SELECT E'a\'b', "q;" /* c /* n */ */;
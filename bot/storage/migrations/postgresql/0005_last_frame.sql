-- Whether the job was given a last frame (models that end the video on a given picture); its image is on the
-- status message beside the reference images, as last-frame-1.jpg.
ALTER TABLE jobs ADD COLUMN has_last_frame BIGINT NOT NULL DEFAULT 0;
